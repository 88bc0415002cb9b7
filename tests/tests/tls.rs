//! Transport security with certificates made here (rcgen): TLS for clients, mutual TLS, and a
//! three-node cluster replicating over mutual TLS.

use std::path::{Path, PathBuf};

use memmesh_client::{Client, Options};
use memmesh_tests::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};

struct Pki {
    ca: PathBuf,
    node_cert: PathBuf,
    node_key: PathBuf,
    client_cert: PathBuf,
    client_key: PathBuf,
}

/// A CA, a node certificate (localhost / 127.0.0.1) and a client certificate, as PEM files.
fn pki(dir: &Path, name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf = |names: Vec<String>| {
        let key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(names).unwrap();
        p.subject_alt_names.push(SanType::IpAddress(std::net::IpAddr::from([127, 0, 0, 1])));
        (p.signed_by(&key, &ca, &ca_key).unwrap().pem(), key.serialize_pem())
    };
    let write = |file: &str, pem: String| {
        let p = dir.join(format!("{name}-{file}"));
        std::fs::write(&p, pem).unwrap();
        p
    };
    let (node_cert, node_key) = leaf(vec!["localhost".into()]);
    let (client_cert, client_key) = leaf(vec!["client".into()]);
    Pki {
        ca: write("ca.pem", ca.pem()),
        node_cert: write("node.pem", node_cert),
        node_key: write("node.key", node_key),
        client_cert: write("client.pem", client_cert),
        client_key: write("client.key", client_key),
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn tls_env(p: &Pki, mutual: bool) -> Vec<(String, String)> {
    let mut env = vec![
        ("MEMMESH__TLS__CERT".to_string(), s(&p.node_cert)),
        ("MEMMESH__TLS__KEY".to_string(), s(&p.node_key)),
        ("MEMMESH__TLS__CA".to_string(), s(&p.ca)),
    ];
    if mutual {
        env.push(("MEMMESH__TLS__REQUIRE_CLIENT_CERT".to_string(), "true".to_string()));
    }
    env
}

async fn works(addr: &str, opts: &Options) -> bool {
    match tokio::time::timeout(std::time::Duration::from_secs(5), Client::connect_with(addr, opts)).await {
        Ok(Ok(mut c)) => c
            .memory
            .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "u"), "over tls")), request_id: String::new(), ..Default::default() })
            .await
            .is_ok(),
        _ => false,
    }
}

#[tokio::test]
async fn tls_clients_need_the_ca_and_plaintext_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "a");
    let env = tls_env(&p, false);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let tls = Options { token: None, tls: Some(Options::tls(&s(&p.ca), None, None).unwrap()) };
    assert!(works(&node.addr, &tls).await, "TLS with the right CA");
    assert!(!works(&node.addr, &Options::default()).await, "plaintext is refused");
    let other = pki(dir.path(), "b");
    let wrong = Options { token: None, tls: Some(Options::tls(&s(&other.ca), None, None).unwrap()) };
    assert!(!works(&node.addr, &wrong).await, "a server certificate from another CA is not trusted");
}

#[tokio::test]
async fn mutual_tls_refuses_clients_without_a_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "a");
    let env = tls_env(&p, true);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let node = NodeProc::start_with_env(&dir.path().join("n1"), &env);
    let with_cert = Options { token: None, tls: Some(Options::tls(&s(&p.ca), Some(&s(&p.client_cert)), Some(&s(&p.client_key))).unwrap()) };
    assert!(works(&node.addr, &with_cert).await);
    let no_cert = Options { token: None, tls: Some(Options::tls(&s(&p.ca), None, None).unwrap()) };
    assert!(!works(&node.addr, &no_cert).await, "no client certificate");
    let other = pki(dir.path(), "b");
    let foreign = Options { token: None, tls: Some(Options::tls(&s(&p.ca), Some(&s(&other.client_cert)), Some(&s(&other.client_key))).unwrap()) };
    assert!(!works(&node.addr, &foreign).await, "client certificate from another CA");
}

#[tokio::test]
async fn a_cluster_replicates_over_mutual_tls() {
    let dir = tempfile::tempdir().unwrap();
    let p = pki(dir.path(), "a");
    let env = tls_env(&p, true);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // Nodes join and replicate through each other's TLS port, with their own certificate.
    let cluster = TestCluster::start(3, &env).await;
    let leader = cluster.leader().await;
    let mut c = cluster.client(leader).await;
    let r = c
        .memory
        .put(proto::PutRequest { cube: Some(text_cube(scope("acme", "u"), "replicated")), request_id: String::new(), ..Default::default() })
        .await
        .unwrap();
    let revision = r.into_inner().revision;
    for i in 0..3 {
        let mut c = cluster.client(i).await;
        let read = Some(proto::ReadOptions { consistency: proto::ReadConsistency::Serializable as i32, min_revision: revision });
        let l = c.memory.list(proto::ListRequest { scope: Some(scope("acme", "u")), read, ..Default::default() }).await.unwrap();
        assert_eq!(l.into_inner().cubes.len(), 1, "node {i}");
    }
}
