//! Turns `openapi.yaml` into the JSON that `GET /openapi.json` serves, at build time: the
//! function then carries neither a YAML parser nor a parse at start-up.

use std::path::Path;

fn main() {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.yaml");
    println!("cargo:rerun-if-changed={}", spec.display());
    let yaml = std::fs::read_to_string(&spec).expect("read openapi.yaml");
    let value: serde_json::Value = serde_yaml::from_str(&yaml).expect("openapi.yaml is valid YAML");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set")).join("openapi.json");
    std::fs::write(out, serde_json::to_string(&value).expect("JSON")).expect("write openapi.json");
}
