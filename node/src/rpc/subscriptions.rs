//! Subscriptions (docs/RPC.md, "Subscriptions"): committed blocks, and a
//! transaction's receipt, pushed to WebSocket clients as the chain commits
//! them.
//!
//! One task, the feed ([`Subscriptions::follow`], on RPC's runtime),
//! follows the chain's commits. It puts each block's notification in one
//! ring of the last `buffer` blocks, shared by every block subscriber, and
//! hands each committed receipt to whoever waits for it; it never waits for
//! a subscriber. Each block subscriber sends from its own place in the
//! ring; one that falls more than `buffer` blocks behind the newest (its
//! client reads too slowly, or not at all) is dropped, and its subscription
//! closes with an error that says so. Nothing here grows with a slow
//! client: the ring holds `buffer` notifications whoever reads them, the
//! node at most `total` subscriptions, and a connection at most what
//! jsonrpsee's message buffer and its socket hold.
//!
//! The feed reads the store (a block whose receipts someone waits for, or
//! blocks the feed missed) on RPC's runtime's blocking threads, below
//! consensus in priority like every other RPC thread.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cairn_client::api::{NewBlockView, ReceiptView, codes, receipt_view};
use jsonrpsee::core::SubscriptionError;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage};
use serde_json::value::RawValue;
use tokio::sync::{broadcast, oneshot, watch};

use crate::chain::{Chain, Committed};
use crate::types::{Block, Hash};

/// How many subscriptions a node serves, and how far behind a block
/// subscriber may fall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubscriptionLimits {
    /// Subscriptions open at once on the whole node, of both kinds; one
    /// more is refused as busy.
    pub total: u32,
    /// Subscriptions open at once on one connection (enforced by
    /// jsonrpsee, which refuses one more with
    /// [`codes::TOO_MANY_SUBSCRIPTIONS`]).
    pub per_connection: u32,
    /// The newest blocks kept for subscribers that have not sent them yet
    /// (rounded up to a power of two): a subscriber further behind than
    /// this is dropped.
    pub buffer: usize,
}

impl Default for SubscriptionLimits {
    fn default() -> Self {
        SubscriptionLimits {
            // Each costs a task and a place in a map; a receipt waiter
            // also its hash.
            total: 4_096,
            per_connection: 1_024,
            // About 64 KiB of notifications for the whole node; two
            // minutes of blocks at the default block time.
            buffer: 256,
        }
    }
}

/// Why the node closed a subscription: the JSON-RPC error object its last
/// notification carries.
fn close_reason(code: i32, message: &str) -> SubscriptionError {
    match serde_json::value::to_raw_value(&serde_json::json!({"code": code, "message": message})) {
        Ok(json) => SubscriptionError::from_json(json),
        Err(_) => SubscriptionError::from(message),
    }
}

/// A block subscriber that fell behind was dropped.
fn dropped(buffer: u64) -> SubscriptionError {
    close_reason(
        codes::SUBSCRIBER_DROPPED,
        &format!(
            "subscriber dropped: it fell more than {buffer} blocks behind the newest, the most a node keeps for its subscribers; read faster, then subscribe again"
        ),
    )
}

/// What the feed puts in the ring.
#[derive(Debug)]
enum Announced {
    /// A block's notification, serialized once for every subscriber.
    Block { height: u64, json: Box<RawValue> },
    /// The feed could not serve a block (a failure of this node): every
    /// block subscription ends with this.
    Failed(SubscriptionError),
}

/// The subscriptions of one node: who is subscribed, and the bound on
/// how many.
#[derive(Debug)]
pub struct Subscriptions {
    limits: SubscriptionLimits,
    open: AtomicUsize,
    /// The newest `buffer` block notifications.
    ring: broadcast::Sender<Arc<Announced>>,
    /// The height of the newest block in the ring.
    newest: watch::Sender<u64>,
    next_id: AtomicU64,
    receipts: Mutex<HashMap<Hash, Vec<ReceiptWaiter>>>,
}

#[derive(Debug)]
struct ReceiptWaiter {
    id: u64,
    receipt: oneshot::Sender<Result<ReceiptView, SubscriptionError>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section below leaves the map consistent.
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// A place among the node's subscriptions, given back when dropped.
#[derive(Debug)]
struct Permit {
    subscriptions: Arc<Subscriptions>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.subscriptions.open.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The node serves as many subscriptions as it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the node is busy: it serves {0} subscriptions, its limit; retry later or ask another node"
)]
pub struct TooManySubscriptions(pub u32);

impl Subscriptions {
    pub fn new(limits: SubscriptionLimits) -> Arc<Self> {
        // The ring's capacity is a power of two; say what it really is.
        let buffer = limits.buffer.max(1).next_power_of_two();
        Arc::new(Subscriptions {
            limits: SubscriptionLimits { buffer, ..limits },
            open: AtomicUsize::new(0),
            ring: broadcast::channel(buffer).0,
            newest: watch::channel(0).0,
            next_id: AtomicU64::new(0),
            receipts: Mutex::new(HashMap::new()),
        })
    }

    pub fn limits(&self) -> SubscriptionLimits {
        self.limits
    }

    /// Subscriptions open now, of both kinds.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    fn acquire(self: &Arc<Self>) -> Result<Permit, TooManySubscriptions> {
        let total = usize::try_from(self.limits.total).unwrap_or(usize::MAX);
        self.open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < total).then_some(open + 1)
            })
            .map_err(|_| TooManySubscriptions(self.limits.total))?;
        Ok(Permit {
            subscriptions: Arc::clone(self),
        })
    }

    /// A new block subscriber: it gets every block the feed announces from
    /// now on.
    pub fn blocks(self: &Arc<Self>) -> Result<BlockSubscription, TooManySubscriptions> {
        let permit = self.acquire()?;
        Ok(BlockSubscription {
            ring: self.ring.subscribe(),
            newest: self.newest.subscribe(),
            buffer: u64::try_from(self.limits.buffer).unwrap_or(u64::MAX),
            _permit: permit,
        })
    }

    /// Waits for `hash`'s receipt from the next commit on. Register before
    /// looking the receipt up in the store: a commit in between then
    /// reaches the waiter.
    pub fn receipt(
        self: &Arc<Self>,
        hash: Hash,
    ) -> Result<ReceiptSubscription, TooManySubscriptions> {
        let permit = self.acquire()?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        lock(&self.receipts)
            .entry(hash)
            .or_default()
            .push(ReceiptWaiter {
                id,
                receipt: sender,
            });
        Ok(ReceiptSubscription {
            id,
            hash,
            receipt: receiver,
            permit,
        })
    }

    /// Puts `view` in the ring, for every block subscriber.
    fn announce(&self, view: &NewBlockView) -> anyhow::Result<()> {
        let json = serde_json::value::to_raw_value(view)?;
        // No subscriber is fine: the ring is for those there are.
        let _ = self.ring.send(Arc::new(Announced::Block {
            height: view.height,
            json,
        }));
        self.newest.send_replace(view.height);
        Ok(())
    }

    /// Ends every subscription with `error`: a block could not be served.
    fn fail_all(&self, error: &SubscriptionError) {
        let _ = self.ring.send(Arc::new(Announced::Failed(error.clone())));
        for (_, waiters) in lock(&self.receipts).drain() {
            for waiter in waiters {
                let _ = waiter.receipt.send(Err(error.clone()));
            }
        }
    }

    fn receipts_awaited(&self) -> bool {
        !lock(&self.receipts).is_empty()
    }

    /// Hands the receipts of `block`'s transactions to their waiters,
    /// reading only those someone waits for.
    fn deliver_receipts(&self, chain: &Chain, block: &Block) -> anyhow::Result<()> {
        let hashes: Vec<Hash> = block.transactions.iter().map(|tx| tx.hash()).collect();
        let waited: Vec<(Hash, Vec<ReceiptWaiter>)> = {
            let mut receipts = lock(&self.receipts);
            hashes
                .into_iter()
                .filter_map(|hash| receipts.remove(&hash).map(|waiters| (hash, waiters)))
                .collect()
        };
        for (hash, waiters) in waited {
            let (location, receipt) = chain.store().receipt(&hash)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "transaction {} of block {} has no receipt",
                    hex::encode(hash),
                    block.header.height
                )
            })?;
            let view = receipt_view(location.height, location.index, &receipt);
            for waiter in waiters {
                let _ = waiter.receipt.send(Ok(view.clone()));
            }
        }
        Ok(())
    }

    fn forget_receipt_waiter(&self, hash: &Hash, id: u64) {
        if let Entry::Occupied(mut entry) = lock(&self.receipts).entry(*hash) {
            entry.get_mut().retain(|waiter| waiter.id != id);
            if entry.get().is_empty() {
                entry.remove();
            }
        }
    }

    /// The feed: follows `committed` (the chain's announcements, taken
    /// before `next` was read from the head) and serves every block from
    /// height `next` on, in order, reading from the store any the
    /// announcements skipped. Runs until the chain stops announcing or
    /// the runtime shuts down.
    pub async fn follow(
        self: Arc<Self>,
        chain: Arc<Chain>,
        mut committed: broadcast::Receiver<Committed>,
        mut next: u64,
    ) {
        loop {
            let (through, announced) = match committed.recv().await {
                Ok(block) => (block.height, Some(block)),
                // The feed fell behind the chain's announcements: catch up
                // from the store.
                Err(broadcast::error::RecvError::Lagged(_)) => (chain.head().height, None),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            while next <= through {
                let height = next;
                let announced = announced.as_ref().filter(|block| block.height == height);
                if let Err(error) = self.serve_height(&chain, height, announced).await {
                    let error = super::internal(format!("serving block {height}: {error:#}"));
                    self.fail_all(&close_reason(error.code(), error.message()));
                    // Serve from the next commit on rather than stop.
                    next = chain.head().height + 1;
                    break;
                }
                next += 1;
            }
        }
    }

    /// Announces block `height` to block subscribers and its receipts to
    /// their waiters.
    async fn serve_height(
        self: &Arc<Self>,
        chain: &Arc<Chain>,
        height: u64,
        announced: Option<&Committed>,
    ) -> anyhow::Result<()> {
        let mut stored = None;
        let view = match announced {
            Some(block) => NewBlockView {
                height: block.height,
                hash: hex::encode(block.hash),
                state_root: hex::encode(block.state_root),
                transactions: u64::try_from(block.transactions).unwrap_or(u64::MAX),
                gas_used: block.gas_used,
            },
            None => {
                let block = read_block(chain, height).await?;
                let view = NewBlockView {
                    height,
                    hash: hex::encode(block.hash()),
                    state_root: hex::encode(block.header.state_root),
                    transactions: u64::try_from(block.transactions.len()).unwrap_or(u64::MAX),
                    gas_used: block.header.gas_used,
                };
                stored = Some(block);
                view
            }
        };
        self.announce(&view)?;
        if self.receipts_awaited() {
            let block = match stored {
                Some(block) => block,
                None => read_block(chain, height).await?,
            };
            let this = Arc::clone(self);
            let chain = Arc::clone(chain);
            tokio::task::spawn_blocking(move || this.deliver_receipts(&chain, &block)).await??;
        }
        Ok(())
    }
}

/// Committed block `height`, read on a blocking thread.
async fn read_block(chain: &Arc<Chain>, height: u64) -> anyhow::Result<Block> {
    let chain = Arc::clone(chain);
    tokio::task::spawn_blocking(move || chain.store().block(height))
        .await??
        .ok_or_else(|| anyhow::anyhow!("committed block {height} is not stored"))
}

/// One block subscriber: its place in the ring.
#[derive(Debug)]
pub struct BlockSubscription {
    ring: broadcast::Receiver<Arc<Announced>>,
    newest: watch::Receiver<u64>,
    buffer: u64,
    _permit: Permit,
}

impl BlockSubscription {
    /// The next block for this subscriber, as the JSON of its
    /// notification: `Ok(None)` once the feed is gone (the node is
    /// stopping), `Err` with the close reason when this subscriber fell
    /// behind or the feed failed.
    pub async fn next(&mut self) -> Result<Option<(u64, Box<RawValue>)>, SubscriptionError> {
        match self.ring.recv().await {
            Ok(announced) => match &*announced {
                Announced::Block { height, json } => Ok(Some((*height, json.clone()))),
                Announced::Failed(error) => Err(error.clone()),
            },
            Err(broadcast::error::RecvError::Lagged(_)) => Err(dropped(self.buffer)),
            Err(broadcast::error::RecvError::Closed) => Ok(None),
        }
    }

    /// Accepts the subscription and sends it every block until the client
    /// unsubscribes or goes away (`Ok`), or it falls behind or the feed
    /// fails (the reason, which jsonrpsee sends as the subscription's last
    /// notification).
    pub async fn serve(
        mut self,
        pending: PendingSubscriptionSink,
    ) -> Result<(), SubscriptionError> {
        let sink = pending.accept().await?;
        loop {
            let (height, json) = tokio::select! {
                biased;
                () = sink.closed() => return Ok(()),
                next = self.next() => match next? {
                    Some(block) => block,
                    None => return Ok(()),
                },
            };
            // While the connection is not taking it, newer blocks keep
            // coming: past `buffer` of them, the next this subscriber needs
            // is gone from the ring.
            let send = sink.send(SubscriptionMessage::from(json));
            tokio::pin!(send);
            loop {
                tokio::select! {
                    biased;
                    sent = &mut send => match sent {
                        Ok(()) => break,
                        Err(_) => return Ok(()),
                    },
                    changed = self.newest.changed() => {
                        if changed.is_err() {
                            return Ok(());
                        }
                        let newest = *self.newest.borrow_and_update();
                        if newest.saturating_sub(height) > self.buffer {
                            return Err(dropped(self.buffer));
                        }
                    }
                }
            }
        }
    }
}

/// One receipt waiter.
#[derive(Debug)]
pub struct ReceiptSubscription {
    id: u64,
    hash: Hash,
    receipt: oneshot::Receiver<Result<ReceiptView, SubscriptionError>>,
    permit: Permit,
}

impl Drop for ReceiptSubscription {
    fn drop(&mut self) {
        self.permit
            .subscriptions
            .forget_receipt_waiter(&self.hash, self.id);
    }
}

impl ReceiptSubscription {
    /// Accepts the subscription and sends it one receipt: `committed` if
    /// the store had it already, else the one the feed delivers. Ends after
    /// it, or when the client unsubscribes or goes away.
    pub async fn serve(
        mut self,
        pending: PendingSubscriptionSink,
        committed: Option<ReceiptView>,
    ) -> Result<(), SubscriptionError> {
        let sink = pending.accept().await?;
        let receipt = match committed {
            Some(receipt) => receipt,
            None => tokio::select! {
                receipt = &mut self.receipt => match receipt {
                    Ok(receipt) => receipt?,
                    // The feed is gone: the node is stopping.
                    Err(_) => return Ok(()),
                },
                () = sink.closed() => return Ok(()),
            },
        };
        let json = serde_json::value::to_raw_value(&receipt)?;
        tokio::select! {
            _ = sink.send(SubscriptionMessage::from(json)) => Ok(()),
            () = sink.closed() => Ok(()),
        }
    }
}
