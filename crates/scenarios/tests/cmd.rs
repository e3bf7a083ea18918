//! CLI contracts as files (`tests/cmd/*.toml`, trycmd): a command line, its working directory
//! (often a case of `vectors/`), and the exact exit code, stdout and stderr. Where a test is a
//! transcript, it reads better than argument arrays. Regenerate the expected output after a
//! deliberate change with `TRYCMD=overwrite cargo test -p scenarios cmd`.

#[test]
fn command_transcripts() {
    trycmd::TestCases::new()
        .register_bin("runtime-verify", testkit::bin("runtime-verify"))
        .register_bin("packager", testkit::bin("packager"))
        .register_bin("factory", testkit::bin("factory"))
        .env("AIRLOCK_ROOT", "")
        .case("tests/cmd/*.toml");
}
