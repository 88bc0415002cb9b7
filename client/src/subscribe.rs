//! A change-feed subscription that survives disconnects.
//!
//! [`subscribe`] returns a stream of event batches. When the connection or the node fails it
//! reconnects (to the next address, round robin, with backoff) and resumes from the revision
//! after the last one delivered — or after the last progress bookmark — so across reconnects the
//! caller sees every revision exactly once: the server's at-least-once across reconnects plus
//! client-side de-duplication by revision.
//!
//! Errors that retrying cannot fix end the stream: `OUT_OF_RANGE` (history compacted: list, then
//! subscribe from the list's `read_revision + 1`), `INVALID_ARGUMENT`, `PERMISSION_DENIED`,
//! `UNAUTHENTICATED`.

use std::time::Duration;

use memmesh_proto::{subscribe_response, EventBatch, SubscribeRequest};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Code, Status};

use crate::Client;

/// One item of a subscription: events of one revision, or a progress bookmark.
#[derive(Debug, Clone, PartialEq)]
pub enum FeedItem {
    Events(EventBatch),
    /// Everything matching up to this revision has been delivered.
    Progress(u64),
}

fn fatal(code: Code) -> bool {
    matches!(code, Code::OutOfRange | Code::InvalidArgument | Code::PermissionDenied | Code::Unauthenticated | Code::NotFound)
}

/// Subscribes through any of `addrs`, resuming across failures; see the module docs.
pub fn subscribe(addrs: Vec<String>, req: SubscribeRequest) -> ReceiverStream<Result<FeedItem, Status>> {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        // The next revision the caller has not seen; 0 until the first bookmark tells us.
        let mut next = req.start_revision;
        let mut backoff = Duration::from_millis(50);
        for attempt in 0usize.. {
            let addr = &addrs[attempt % addrs.len().max(1)];
            let mut r = req.clone();
            r.start_revision = next;
            let stream = match Client::connect(addr).await {
                Ok(mut c) => c.memstore.subscribe(r).await.map(|s| s.into_inner()),
                Err(e) => Err(Status::unavailable(e.to_string())),
            };
            let mut stream = match stream {
                Ok(s) => s,
                Err(s) if fatal(s.code()) => {
                    let _ = tx.send(Err(s)).await;
                    return;
                }
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    continue;
                }
            };
            loop {
                match stream.message().await {
                    Ok(Some(msg)) => {
                        backoff = Duration::from_millis(50);
                        let item = match msg.kind {
                            Some(subscribe_response::Kind::Events(b)) if b.revision >= next => {
                                next = b.revision + 1;
                                FeedItem::Events(b)
                            }
                            Some(subscribe_response::Kind::Progress(p)) if p.revision + 1 >= next => {
                                next = p.revision + 1;
                                FeedItem::Progress(p.revision)
                            }
                            // Seen before (a replay after reconnecting): drop it.
                            _ => continue,
                        };
                        if tx.send(Ok(item)).await.is_err() {
                            return; // the caller dropped the stream
                        }
                    }
                    Ok(None) => break,
                    Err(s) if fatal(s.code()) => {
                        let _ = tx.send(Err(s)).await;
                        return;
                    }
                    Err(_) => break,
                }
            }
            if tx.is_closed() {
                return;
            }
            tokio::time::sleep(backoff).await;
        }
    });
    ReceiverStream::new(rx)
}
