//! Compiles `proto/` with the pure-Rust `protox` compiler (no system `protoc`) and generates
//! tonic servers, clients and prost messages. The encoded descriptor set, with source info
//! (comments), is written next to the generated code for server reflection.

use std::path::{Path, PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = Path::new("proto");
    println!("cargo:rerun-if-changed=proto");

    let mut files = Vec::new();
    collect_protos(&proto_root.join("taskmesh"), &mut files)?;
    files.sort();
    let relative: Vec<PathBuf> = files
        .iter()
        .map(|path| path.strip_prefix(proto_root).map(Path::to_path_buf))
        .collect::<Result<_, _>>()?;

    let mut compiler = protox::Compiler::new([proto_root])?;
    compiler.include_imports(true).include_source_info(true);
    compiler.open_files(&relative)?;

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("taskmesh_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    // Type names (`prost::Name`) let services name event payloads from the contracts.
    let mut config = prost_build::Config::new();
    config.enable_type_names();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds_with_config(compiler.file_descriptor_set(), config)?;
    Ok(())
}

fn collect_protos(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            files.push(path);
        }
    }
    Ok(())
}
