//! Writing adapter models in the ONNX format: the few messages of `onnx.proto` (opset 13) a
//! linear adapter needs, encoded with prost. Loading and checking a model is ONNX Runtime's job
//! (see [`super::session`]); this side only ever writes.
//!
//! The graph of a trained adapter, for a query `x` of shape `[n, d]`:
//!
//! ```text
//! y = x + (x · A) · B        A: d × r, B: r × d   (a rank-r correction to the identity)
//! ```

use prost::Message;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i32 = 1;
const IR_VERSION: i64 = 8;
const OPSET: i64 = 13;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(int64, tag = "1")]
    ir_version: i64,
    #[prost(string, tag = "2")]
    producer_name: String,
    #[prost(string, tag = "3")]
    producer_version: String,
    #[prost(string, tag = "6")]
    doc_string: String,
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
    #[prost(message, repeated, tag = "8")]
    opset_import: Vec<OperatorSetIdProto>,
    #[prost(message, repeated, tag = "14")]
    metadata_props: Vec<StringStringEntryProto>,
}

#[derive(Clone, PartialEq, Message)]
struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    domain: String,
    #[prost(int64, tag = "2")]
    version: i64,
}

#[derive(Clone, PartialEq, Message)]
struct StringStringEntryProto {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    name: String,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(string, tag = "4")]
    op_type: String,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(string, tag = "8")]
    name: String,
    /// Little-endian floats.
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeProto {
    #[prost(message, optional, tag = "1")]
    tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    elem_type: i32,
    #[prost(message, optional, tag = "2")]
    shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    dim: Vec<Dimension>,
}

#[derive(Clone, PartialEq, Message)]
struct Dimension {
    #[prost(int64, optional, tag = "1")]
    dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    dim_param: Option<String>,
}

fn tensor(name: &str, dims: &[usize], data: &[f32]) -> TensorProto {
    debug_assert_eq!(dims.iter().product::<usize>(), data.len());
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: FLOAT,
        name: name.into(),
        raw_data: data.iter().flat_map(|x| x.to_le_bytes()).collect(),
    }
}

/// A float matrix input or output of shape `[n, cols]`, `n` symbolic.
fn rows_of(name: &str, cols: usize) -> ValueInfoProto {
    let dim = vec![Dimension { dim_value: None, dim_param: Some("n".into()) }, Dimension { dim_value: Some(cols as i64), dim_param: None }];
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: FLOAT, shape: Some(TensorShapeProto { dim }) }) }),
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto { input: inputs.iter().map(|s| s.to_string()).collect(), output: vec![output.into()], name: output.into(), op_type: op.into() }
}

fn model(graph: GraphProto, metadata: &[(&str, String)]) -> Vec<u8> {
    ModelProto {
        ir_version: IR_VERSION,
        producer_name: "memmesh".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "MemMesh query adapter: query vector in, query vector out".into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        metadata_props: metadata.iter().map(|(k, v)| StringStringEntryProto { key: k.to_string(), value: v.clone() }).collect(),
    }
    .encode_to_vec()
}

/// The adapter `y = x + (x·A)·B` for `d`-dimensional queries, `a` being `d × r` and `b`
/// `r × d`, row-major.
pub fn low_rank(d: usize, r: usize, a: &[f32], b: &[f32], metadata: &[(&str, String)]) -> Vec<u8> {
    let graph = GraphProto {
        node: vec![node("MatMul", &["x", "A"], "xa"), node("MatMul", &["xa", "B"], "delta"), node("Add", &["x", "delta"], "y")],
        name: "memmesh_adapter".into(),
        initializer: vec![tensor("A", &[d, r], a), tensor("B", &[r, d], b)],
        input: vec![rows_of("x", d)],
        output: vec![rows_of("y", d)],
    };
    model(graph, metadata)
}

/// The adapter `y = x · W` for a `d_in × d_out` matrix (row-major): how a full linear map from
/// elsewhere looks, and — with the wrong dimensions or non-finite weights — what validation
/// must refuse.
pub fn linear(d_in: usize, d_out: usize, w: &[f32]) -> Vec<u8> {
    let graph = GraphProto {
        node: vec![node("MatMul", &["x", "W"], "y")],
        name: "linear_adapter".into(),
        initializer: vec![tensor("W", &[d_in, d_out], w)],
        input: vec![rows_of("x", d_in)],
        output: vec![rows_of("y", d_out)],
    };
    model(graph, &[])
}
