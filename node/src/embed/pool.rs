//! The embedding workers: OS threads that each own an [`Embedder`].
//!
//! Handlers send a job (a request's texts) and `await` the reply. A worker takes one job,
//! then merges whatever else is queued up to `batch_size` texts into the same inference (many
//! concurrent single puts share one batch). The queue is bounded, so a flood of writes waits
//! for inference capacity instead of growing memory.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::{EmbedError, Embedder, EmbeddingConfig};

struct Job {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
}

/// A handle to the workers; cheap to clone.
#[derive(Clone)]
pub struct EmbedPool {
    tx: mpsc::Sender<Job>,
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
        let (tx, rx) = mpsc::channel::<Job>(QUEUE);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        let batch = cfg.batch_size.max(1);
        for (i, e) in embedders.into_iter().enumerate() {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("embed-{i}"))
                .spawn(move || worker(e, rx, batch))
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
        self.tx.send(Job { texts, reply }).await.map_err(|_| EmbedError::Stopped)?;
        metrics::gauge!("memmesh_embed_queue_jobs").set((QUEUE - self.tx.capacity()) as f64);
        rx.await.map_err(|_| EmbedError::Stopped)?
    }
}

fn worker(mut e: Embedder, rx: Arc<std::sync::Mutex<mpsc::Receiver<Job>>>, batch: usize) {
    loop {
        // Take one job, then whatever else is already queued, up to one batch of texts. The
        // lock is held only while taking jobs, never during inference.
        let mut jobs = {
            let mut rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            let Some(first) = rx.blocking_recv() else { return };
            let mut n = first.texts.len();
            let mut jobs = vec![first];
            while n < batch {
                match rx.try_recv() {
                    Ok(j) => {
                        n += j.texts.len();
                        jobs.push(j);
                    }
                    Err(_) => break,
                }
            }
            jobs
        };
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
