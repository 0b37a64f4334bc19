// `hostel new` embeds these (include_dir!): rebuild when they change.
fn main() {
    for dir in ["../sdk/templates", "../sdk/src", "../sdk/Cargo.toml", "../wit"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
