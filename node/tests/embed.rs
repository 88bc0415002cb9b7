//! The embedding model through ONNX Runtime: needs scripts/setup-models.sh (scripts/test.sh runs
//! it). These tests fail, not skip, when the model is missing.

use std::path::PathBuf;

use memmesh_node::embed::{Embedder, EmbeddingConfig};

fn config() -> EmbeddingConfig {
    // At run time, not compile time: a test binary reused from another checkout that shares the
    // target directory must still find this checkout's model.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let root = crate_dir.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR"))).join("..");
    let d = EmbeddingConfig::default();
    EmbeddingConfig { model_dir: root.join(&d.model_dir), ort_dylib: root.join(&d.ort_dylib), batch_size: 4, ..d }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn vectors_are_unit_length_with_the_models_dimensions() {
    let mut e = Embedder::load(&config()).expect("model installed by scripts/setup-models.sh");
    assert_eq!(e.dims(), 384, "all-MiniLM-L6-v2 has 384 dimensions");
    assert!(e.model_id().starts_with("all-minilm-l6-v2@"), "{}", e.model_id());
    let v = e.embed(&["hello world"]).unwrap();
    assert!((dot(&v[0], &v[0]) - 1.0).abs() < 1e-4);
}

#[test]
fn paraphrases_are_closer_than_unrelated_text() {
    let mut e = Embedder::load(&config()).unwrap();
    let v = e.embed(&["The cat sat on the mat.", "A kitten is sitting on a rug.", "Quarterly revenue grew by 8 percent."]).unwrap();
    let (para, unrelated) = (dot(&v[0], &v[1]), dot(&v[0], &v[2]));
    assert!(para > 0.5 && para > unrelated + 0.3, "paraphrase {para}, unrelated {unrelated}");
}

#[test]
fn batching_and_padding_do_not_change_a_vector() {
    // Ten texts of very different lengths, micro-batches of 4: each text is padded differently
    // than when embedded alone, and the result must not depend on it.
    let texts: Vec<String> = (0..10).map(|i| format!("memory number {i} {}", "and more words ".repeat(i * 3))).collect();
    let mut e = Embedder::load(&config()).unwrap();
    let together = e.embed(&texts).unwrap();
    for (i, t) in texts.iter().enumerate() {
        let alone = e.embed(&[t.as_str()]).unwrap();
        let cos = dot(&alone[0], &together[i]);
        assert!(cos > 0.9999, "text {i}: cosine {cos} between batched and alone");
    }
}

#[test]
fn a_missing_model_says_what_is_missing_and_how_to_install_it() {
    let cfg = EmbeddingConfig { model_dir: "/nonexistent/model".into(), ..config() };
    let err = Embedder::load(&cfg).err().expect("must fail").to_string();
    assert!(err.contains("/nonexistent/model/model.onnx") && err.contains("scripts/setup-models.sh"), "{err}");
    let cfg = EmbeddingConfig { ort_dylib: "/nonexistent/libonnxruntime.so".into(), ..config() };
    let err = Embedder::load(&cfg).err().expect("must fail").to_string();
    assert!(err.contains("ONNX Runtime library") && err.contains("embedding.ort_dylib"), "{err}");
}
