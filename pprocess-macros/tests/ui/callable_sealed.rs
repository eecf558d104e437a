// Callable is sealed: how a callable serves reused processes is internal,
// so a type of the user's cannot be one. Closures, MakeParallel and
// MakeReusable are the callables.

struct Doubler;

impl pprocess::Callable<u32> for Doubler {
    fn call(&self, channel: &mut pprocess::Channel, n: u32) -> std::process::ExitCode {
        let _ = channel.send(&(n * 2));
        std::process::ExitCode::SUCCESS
    }
}

fn main() {}
