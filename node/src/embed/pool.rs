//! The embedding workers: OS threads that each own an [`Embedder`].
//!
//! Handlers send a job (a request's texts) and `await` the reply. A worker takes one job,
//! then merges whatever else is queued up to `batch_size` texts into the same inference (many
//! concurrent single puts share one batch). The queue is bounded, so a flood of writes waits
//! for inference capacity instead of growing memory.
//!
//! The same workers load and run query adapters ([`super::adapter`]): a loaded adapter is kept
//! per `(cube id, version)` in a small cache shared by the workers, so each version is loaded
//! once per node and a new version (a rollback, an update) is simply a different key.

use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::adapter::{AdapterError, AdapterSession};
use super::{EmbedError, Embedder, EmbeddingConfig};

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// Load (or find loaded) an adapter and pass `vectors` through it. Without a key the model is
/// only checked (a write) and not kept.
struct AdapterJob {
    key: Option<(String, u64)>,
    bytes: Arc<Vec<u8>>,
    vectors: Vec<Vec<f32>>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, AdapterError>>,
}

enum Work {
    Embed(Job),
    Adapter(AdapterJob),
}

/// Adapters loaded on this node, most recently used last.
type Loaded = Arc<Mutex<Vec<((String, u64), Arc<Mutex<AdapterSession>>)>>>;
/// How many adapter versions a node keeps loaded.
const LOADED: usize = 8;

/// A handle to the workers; cheap to clone.
#[derive(Clone)]
pub struct EmbedPool {
    tx: mpsc::Sender<Work>,
    dims: usize,
    model_id: Arc<str>,
}

const QUEUE: usize = 1024;

impl EmbedPool {
    /// Loads one session per worker and starts the workers. Fails (with what is missing and how
    /// to install it) if the model or the runtime cannot be loaded.
    pub fn start(cfg: &EmbeddingConfig) -> Result<Self, EmbedError> {
        let mut embedders = Vec::new();
        for _ in 0..cfg.workers.max(1) {
            embedders.push(Embedder::load(cfg)?);
        }
        let dims = embedders[0].dims();
        let model_id: Arc<str> = embedders[0].model_id().into();
        let (tx, rx) = mpsc::channel::<Work>(QUEUE);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let batch = cfg.batch_size.max(1);
        let loaded = Loaded::default();
        for (i, e) in embedders.into_iter().enumerate() {
            let rx = rx.clone();
            let loaded = loaded.clone();
            std::thread::Builder::new()
                .name(format!("embed-{i}"))
                .spawn(move || worker(e, rx, batch, loaded, dims))
                .map_err(|e| EmbedError::Runtime(format!("cannot start an embedding thread: {e}")))?;
        }
        Ok(Self { tx, dims, model_id })
    }

    pub fn dims(&self) -> usize {
        self.dims
    }

    pub fn model_id(&self) -> &str {
        &self.model_id
    }

    /// Embeds `texts`, one unit vector per text, in order.
    pub async fn embed(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let (reply, rx) = oneshot::channel();
        self.tx.send(Work::Embed(Job { texts, reply })).await.map_err(|_| EmbedError::Stopped)?;
        metrics::gauge!("memmesh_embed_queue_jobs").set((QUEUE - self.tx.capacity()) as f64);
        rx.await.map_err(|_| EmbedError::Stopped)?
    }

    /// Passes `vectors` through the adapter `key` (= cube id and version), whose model is
    /// `bytes`: loaded on first use, then kept.
    pub async fn adapt(&self, key: (String, u64), bytes: Arc<Vec<u8>>, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, AdapterError> {
        self.adapter_job(Some(key), bytes, vectors).await
    }

    /// Checks that `bytes` is an adapter for this node's model (loads it and runs a probe).
    pub async fn check_adapter(&self, bytes: Arc<Vec<u8>>) -> Result<(), AdapterError> {
        self.adapter_job(None, bytes, Vec::new()).await.map(|_| ())
    }

    async fn adapter_job(&self, key: Option<(String, u64)>, bytes: Arc<Vec<u8>>, vectors: Vec<Vec<f32>>) -> Result<Vec<Vec<f32>>, AdapterError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || AdapterError::Runtime("the embedding workers have stopped".into());
        self.tx.send(Work::Adapter(AdapterJob { key, bytes, vectors, reply })).await.map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }
}

/// The loaded session of `key`, marked most recently used.
fn cached(loaded: &Loaded, key: &(String, u64)) -> Option<Arc<Mutex<AdapterSession>>> {
    let mut l = loaded.lock().unwrap_or_else(|p| p.into_inner());
    let i = l.iter().position(|(k, _)| k == key)?;
    let entry = l.remove(i);
    let session = entry.1.clone();
    l.push(entry);
    Some(session)
}

/// Serves one adapter job: finds the session loaded (or loads it), runs it.
fn adapt(job: AdapterJob, loaded: &Loaded, dims: usize) {
    let result = (|| {
        let session = match job.key.as_ref().and_then(|k| cached(loaded, k)) {
            Some(s) => s,
            None => {
                let s = Arc::new(Mutex::new(AdapterSession::load(&job.bytes, dims)?));
                if let Some(key) = job.key.clone() {
                    let mut l = loaded.lock().unwrap_or_else(|p| p.into_inner());
                    l.push((key, s.clone()));
                    if l.len() > LOADED {
                        l.remove(0);
                    }
                }
                s
            }
        };
        if job.vectors.is_empty() {
            return Ok(Vec::new());
        }
        let mut s = session.lock().unwrap_or_else(|p| p.into_inner());
        s.run(&job.vectors)
    })();
    let _ = job.reply.send(result);
}

fn worker(mut e: Embedder, rx: Arc<std::sync::Mutex<mpsc::Receiver<Work>>>, batch: usize, loaded: Loaded, dims: usize) {
    loop {
        // Take one job, then whatever else is already queued, up to one batch of texts. The
        // lock is held only while taking jobs, never during inference. Adapter jobs taken on the
        // way are served first, on their own (a few small matrix products each).
        let mut adapter_jobs = Vec::new();
        let mut jobs = {
            let mut rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            let mut jobs = Vec::new();
            let mut n = 0;
            match rx.blocking_recv() {
                None => return,
                Some(Work::Embed(j)) => {
                    n += j.texts.len();
                    jobs.push(j);
                }
                Some(Work::Adapter(j)) => adapter_jobs.push(j),
            }
            while n < batch && !jobs.is_empty() {
                match rx.try_recv() {
                    Ok(Work::Embed(j)) => {
                        n += j.texts.len();
                        jobs.push(j);
                    }
                    Ok(Work::Adapter(j)) => adapter_jobs.push(j),
                    Err(_) => break,
                }
            }
            jobs
        };
        for j in adapter_jobs {
            adapt(j, &loaded, dims);
        }
        // A client that gave up no longer needs its texts embedded.
        jobs.retain(|j| !j.reply.is_closed());
        if jobs.is_empty() {
            continue;
        }
        let texts: Vec<&str> = jobs.iter().flat_map(|j| j.texts.iter().map(String::as_str)).collect();
        let started = std::time::Instant::now();
        let out = e.embed(&texts);
        metrics::histogram!("memmesh_embed_inference_seconds").record(started.elapsed().as_secs_f64());
        metrics::histogram!("memmesh_embed_batch_texts").record(texts.len() as f64);
        match out {
            Ok(mut vectors) => {
                // Hand each job its slice, in order.
                for j in jobs.into_iter().rev() {
                    let mine = vectors.split_off(vectors.len() - j.texts.len());
                    let _ = j.reply.send(Ok(mine));
                }
            }
            Err(err) => {
                let msg = err.to_string();
                for j in jobs {
                    let _ = j.reply.send(Err(EmbedError::Runtime(msg.clone())));
                }
            }
        }
    }
}
