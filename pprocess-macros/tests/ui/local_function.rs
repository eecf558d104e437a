// The attribute goes on module-level functions: the module it generates
// cannot see a function declared inside another function's body. One
// error at the function's name says so; uses of its helpers add none.
fn main() {
    #[pprocess::parallel]
    fn calculate(i: u32, j: u32) -> u32 {
        i * 10 + j
    }

    let _cells: Vec<_> = calculate::pmap([(1, 2)]).collect();
}
