// The attribute goes on module-level functions: the generated module cannot
// see a function declared inside another function's body.
fn main() {
    #[pprocess::parallel]
    fn calculate(i: u32, j: u32) -> u32 {
        i * 10 + j
    }
}
