//! A WASI command component: valid WebAssembly, but not a relhost scenario.

fn main() {
    println!("not a scenario");
}
