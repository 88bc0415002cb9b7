//! One adapter loaded into ONNX Runtime: checked when it is written, run at search time.

use ort::session::Session;
use ort::value::{Tensor, ValueType};

use super::AdapterError;

/// A loaded adapter: one float input `[n, d]`, one float output `[n, d]`.
pub struct AdapterSession {
    session: Session,
    dims: usize,
}

fn shape_of(what: &str, t: &ValueType, dims: usize) -> Result<(), AdapterError> {
    let ValueType::Tensor { ty, shape, .. } = t else {
        return Err(AdapterError::Shape(format!("its {what} is not a tensor")));
    };
    if *ty != ort::value::TensorElementType::Float32 {
        return Err(AdapterError::Shape(format!("its {what} has element type {ty:?}, not float32")));
    }
    let s: &[i64] = shape;
    if s.len() != 2 || s[1] != dims as i64 || !(s[0] == -1 || s[0] >= 1) {
        return Err(AdapterError::Shape(format!("its {what} has shape {s:?}; an adapter maps [n, {dims}] to [n, {dims}] (n may be symbolic)")));
    }
    Ok(())
}

impl AdapterSession {
    /// Loads `bytes` and checks it is an adapter for `dims`-dimensional vectors: one float
    /// input and one float output, both `[n, dims]`, and a probe of a few unit vectors gives
    /// finite vectors of that shape.
    pub fn load(bytes: &[u8], dims: usize) -> Result<Self, AdapterError> {
        let env = super::super::model::loaded_environment().ok_or(AdapterError::NoRuntime)?;
        let mut builder = Session::builder(env).map_err(|e| AdapterError::Runtime(e.to_string()))?;
        // One thread: an adapter is a few small matrix products per query.
        builder = builder.with_intra_threads(1).map_err(|e| AdapterError::Runtime(e.to_string()))?;
        let session = builder.commit_from_memory(bytes).map_err(|e| AdapterError::Load(e.to_string()))?;
        if session.inputs().len() != 1 || session.outputs().len() != 1 {
            return Err(AdapterError::Shape(format!(
                "it has {} inputs and {} outputs; an adapter has one of each",
                session.inputs().len(),
                session.outputs().len()
            )));
        }
        shape_of("input", session.inputs()[0].dtype(), dims)?;
        shape_of("output", session.outputs()[0].dtype(), dims)?;
        let mut s = Self { session, dims };
        s.probe()?;
        Ok(s)
    }

    /// Runs the model on three unit vectors (two basis vectors and a uniform one): a model
    /// that fails, changes the batch size or gives non-finite values is refused.
    fn probe(&mut self) -> Result<(), AdapterError> {
        let d = self.dims;
        let mut probe = vec![vec![0.0; d], vec![0.0; d], vec![1.0 / (d as f32).sqrt(); d]];
        probe[0][0] = 1.0;
        probe[1][d - 1] = 1.0;
        let out = self.run(&probe)?;
        if out.iter().flatten().any(|x| !x.is_finite()) {
            return Err(AdapterError::NonFinite);
        }
        if out.iter().any(|v| v.iter().all(|&x| x == 0.0)) {
            return Err(AdapterError::Shape("it maps a probe vector to zero, which has no direction to search by".into()));
        }
        Ok(())
    }

    /// Passes each vector through the adapter.
    pub fn run(&mut self, vectors: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, AdapterError> {
        let n = vectors.len();
        let d = self.dims;
        let flat: Vec<f32> = vectors.iter().flat_map(|v| v.iter().copied()).collect();
        if flat.len() != n * d {
            return Err(AdapterError::Runtime(format!("vectors must have {d} dimensions")));
        }
        let input = Tensor::from_array(([n as i64, d as i64], flat)).map_err(|e| AdapterError::Runtime(e.to_string()))?;
        let outputs = self.session.run(ort::inputs![input]).map_err(|e| AdapterError::Runtime(e.to_string()))?;
        let (shape, data) = outputs[0].try_extract_tensor::<f32>().map_err(|e| AdapterError::Runtime(e.to_string()))?;
        let s: Vec<i64> = shape.iter().copied().collect();
        if s != [n as i64, d as i64] {
            return Err(AdapterError::Shape(format!("it returned shape {s:?} for an input of [{n}, {d}]")));
        }
        Ok(data.chunks(d).map(<[f32]>::to_vec).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::adapter::Gram;

    /// ONNX Runtime as `scripts/setup-models.sh` installs it (the test suite's setup runs first).
    fn runtime() {
        let dylib = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.local/lib/libonnxruntime.so");
        super::super::super::model::environment(&dylib).expect("ONNX Runtime (scripts/setup-models.sh installs it)");
    }

    fn matrix(d_in: usize, d_out: usize, f: impl Fn(usize, usize) -> f32) -> Vec<f32> {
        (0..d_in * d_out).map(|ij| f(ij / d_out, ij % d_out)).collect()
    }

    #[test]
    fn a_fitted_adapter_written_as_onnx_computes_what_the_fit_computes() {
        runtime();
        let d = 16;
        let q: Vec<Vec<f32>> = (0..40).map(|i| (0..d).map(|j| ((i * 7 + j * 3) % 11) as f32 / 11.0 - 0.4).collect()).collect();
        let a: Vec<Vec<f32>> = q.iter().map(|v| v.iter().rev().copied().collect()).collect();
        let fitted = Gram::new(&q, &a, d).fit(1.0, 4);
        let bytes = fitted.to_onnx(&[("memmesh.pairs", "40".into())]);
        let mut s = AdapterSession::load(&bytes, d).expect("a fitted adapter loads");
        let out = s.run(&q[..3]).unwrap();
        for (x, y) in q[..3].iter().zip(&out) {
            let want = fitted.apply(x);
            let err: f32 = want.iter().zip(y).map(|(p, q)| (p - q).abs()).fold(0.0, f32::max);
            assert!(err < 1e-4, "ONNX and the fit disagree by {err}");
        }
    }

    #[test]
    fn models_that_are_not_adapters_for_the_model_are_refused_by_name() {
        runtime();
        let d = 16;
        let identity = super::super::onnx::linear(d, d, &matrix(d, d, |i, j| (i == j) as u8 as f32));
        assert!(AdapterSession::load(&identity, d).is_ok(), "an identity adapter is fine");
        let refuse = |bytes: &[u8]| AdapterSession::load(bytes, d).err().expect("refused");
        assert!(matches!(refuse(b"not an onnx model"), AdapterError::Load(_)));
        // Wrong input dimensions (8-dimensional queries for a 16-dimensional model).
        let e = refuse(&super::super::onnx::linear(8, 8, &matrix(8, 8, |i, j| (i == j) as u8 as f32)));
        assert!(matches!(&e, AdapterError::Shape(m) if m.contains("input") && m.contains("[n, 16]")), "{e}");
        // Right input, wrong output.
        let e = refuse(&super::super::onnx::linear(d, 8, &matrix(d, 8, |i, j| (i == j) as u8 as f32)));
        assert!(matches!(&e, AdapterError::Shape(m) if m.contains("output")), "{e}");
        // A model that returns NaN.
        let e = refuse(&super::super::onnx::linear(d, d, &matrix(d, d, |_, _| f32::NAN)));
        assert!(matches!(e, AdapterError::NonFinite), "{e}");
        // One that collapses everything to zero.
        let e = refuse(&super::super::onnx::linear(d, d, &matrix(d, d, |_, _| 0.0)));
        assert!(matches!(&e, AdapterError::Shape(m) if m.contains("zero")), "{e}");
    }
}
