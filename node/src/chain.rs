//! The replicated state machine: admits transactions, builds and verifies
//! blocks by executing them, and commits decided blocks.
//!
//! Start reading at [`Chain::build_block`] and [`Chain::verify_block`]: both
//! run [`Chain::execute`] on the committed state, so a proposer and every
//! validator compute the same receipts and state root from the same block,
//! and a block is voted for only if they match. The result of an execution
//! is kept by block hash until consensus decides, so a commit writes what
//! was verified without executing again.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use cairn_vm::{BlockInfo, Call, Outcome, PrepareError, Status, TrapCode, Vm, VmConfig};
use jmt::storage::{Node, NodeKey, TreeReader};
use jmt::{JellyfishMerkleTree, KeyHash, OwnedValue, Version};
use parity_scale_codec::Encode;
use tokio::sync::broadcast;

use crate::consensus::{BlockHash, BlockRejected, ConsensusHost, ExecutedBlock, ValidatorKey};
use crate::genesis::{ChainParams, Genesis};
use crate::limits::{MAX_ABI_BYTES, MAX_BLOCK_BYTES, MAX_BLOCK_TRANSACTIONS, MAX_CHAIN_ID_BYTES};
use crate::mempool::{Mempool, MempoolLimits};
use crate::metrics::Metrics;
use crate::state::{Changes, PendingDeploy, TreeHasher, View};
use crate::store::{BlockWrites, ContractInfo, Head, StateSnapshot, Store, TxLocation};
use crate::types::VmAddress;
use crate::types::{
    Action, Address, Block, Event, Hash, Header, Receipt, STATUS_DEPLOY_REJECTED,
    SignedTransaction, TxError, contract_address, decode_exact, merkle_root,
};

/// How far ahead of this node's clock a proposed block's time may be.
const MAX_CLOCK_DRIFT_MS: u64 = 10_000;

/// The longest method name a transaction may carry: the VM's longest
/// export name.
const MAX_METHOD_BYTES: usize = cairn_vm::limits::MAX_EXPORT_NAME_BYTES;

#[derive(Debug, Clone)]
pub struct ChainConfig {
    /// The RocksDB directory.
    pub db_path: PathBuf,
    /// The VM's on-disk artifact cache.
    pub artifact_cache: Option<PathBuf>,
    pub mempool: MempoolLimits,
    /// Rebuild the state root from every record at startup and compare it
    /// with the committed one (reads the whole state).
    pub verify_state_on_start: bool,
}

/// A committed block, announced to RPC waiters and the gossip layer.
#[derive(Debug, Clone)]
pub struct Committed {
    pub height: u64,
    pub hash: Hash,
    pub state_root: Hash,
    pub transactions: usize,
    pub gas_used: u64,
}

/// A block executed but not yet decided.
#[derive(Debug)]
struct Executed {
    block: Block,
    bytes: Bytes,
    receipts: Vec<Receipt>,
    changes: Changes,
    tree: jmt::storage::NodeBatch,
}

/// Whether `execute` builds a block (and may leave out transactions that
/// no longer apply) or verifies one (where any such transaction makes the
/// block invalid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Build,
    Verify,
}

#[derive(Debug, thiserror::Error)]
enum ExecError {
    #[error("transaction {index}: {error}")]
    InvalidTransaction { index: usize, error: TxError },
    #[error(transparent)]
    Local(#[from] anyhow::Error),
}

pub struct Chain {
    store: Store,
    vm: Vm,
    genesis: Genesis,
    genesis_hash: Hash,
    mempool: Mutex<Mempool>,
    executed: Mutex<HashMap<Hash, Arc<Executed>>>,
    /// Serialises execution and commits: every execution reads the state
    /// tree at the committed version.
    execution: Mutex<()>,
    head: RwLock<Head>,
    committed: broadcast::Sender<Committed>,
    metrics: Metrics,
}

impl std::fmt::Debug for Chain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chain")
            .field("chain_id", &self.genesis.chain_id)
            .field("head", &self.head())
            .finish_non_exhaustive()
    }
}

pub fn now_ms() -> u64 {
    system_time_ms(SystemTime::now())
}

fn system_time_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |elapsed| {
        u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
    })
}

impl Chain {
    /// Opens (or creates) the node's database for `genesis` and checks that
    /// what it holds is consistent before anything runs on it.
    pub fn open(genesis: Genesis, config: &ChainConfig, metrics: Metrics) -> anyhow::Result<Self> {
        genesis.validate()?;
        let store = Store::open(&config.db_path)?;
        let genesis_hash = genesis.hash();
        let head = store.init_genesis(genesis_hash, genesis.genesis_time_ms)?;
        let vm = Vm::new(VmConfig {
            cache_dir: config.artifact_cache.clone(),
            ..VmConfig::default()
        })
        .context("starting the VM")?;
        let chain = Chain {
            store,
            vm,
            genesis,
            genesis_hash,
            mempool: Mutex::new(Mempool::new(config.mempool)),
            executed: Mutex::new(HashMap::new()),
            execution: Mutex::new(()),
            head: RwLock::new(head),
            committed: broadcast::channel(256).0,
            metrics,
        };
        chain.check_head()?;
        if config.verify_state_on_start {
            chain.verify_state()?;
        }
        chain
            .metrics
            .height
            .set(i64::try_from(head.height).unwrap_or(i64::MAX));
        Ok(chain)
    }

    /// The committed head must be the stored block's, and its root the
    /// tree's root at that version.
    fn check_head(&self) -> anyhow::Result<()> {
        let head = self.head();
        if head.height > 0 {
            let block = self
                .store
                .block(head.height)?
                .ok_or_else(|| anyhow!("block {} of the committed head is missing", head.height))?;
            if block.hash() != head.block_hash || block.header.state_root != head.state_root {
                bail!(
                    "the committed head does not match block {}: the database is corrupt",
                    head.height
                );
            }
        }
        let reader = self.store.tree_reader();
        let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
        let root = tree.get_root_hash(head.height)?;
        if root.0 != head.state_root {
            bail!(
                "the state tree's root at height {} is {}, but the committed root is {}: refusing to run on inconsistent state",
                head.height,
                hex::encode(root.0),
                hex::encode(head.state_root)
            );
        }
        Ok(())
    }

    /// Rebuilds the state root from every flat record and compares it with
    /// the committed root: catches state changed behind the tree's back.
    pub fn verify_state(&self) -> anyhow::Result<()> {
        let started = Instant::now();
        let snapshot = self.store.snapshot();
        let head = snapshot.head()?;
        let mut leaves = Vec::new();
        snapshot.for_each_state_leaf(|key, value| leaves.push((key, Some(value))))?;
        let scratch = ScratchTree;
        let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&scratch);
        let (root, _) = tree.put_value_set(leaves.iter().cloned(), 0)?;
        if root.0 != head.state_root {
            bail!(
                "the state does not match its root at height {}: rebuilt {}, committed {}; refusing to run",
                head.height,
                hex::encode(root.0),
                hex::encode(head.state_root)
            );
        }
        tracing::info!(
            height = head.height,
            records = leaves.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "state verified against its root"
        );
        Ok(())
    }

    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }

    pub fn genesis_hash(&self) -> Hash {
        self.genesis_hash
    }

    pub fn params(&self) -> &ChainParams {
        &self.genesis.params
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn vm(&self) -> &Vm {
        &self.vm
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn head(&self) -> Head {
        *self
            .head
            .read()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Committed> {
        self.committed.subscribe()
    }

    fn lock_mempool(&self) -> std::sync::MutexGuard<'_, Mempool> {
        self.mempool
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn mempool_len(&self) -> usize {
        self.lock_mempool().len()
    }

    /// The nonce an account's next transaction should carry, counting its
    /// pending transactions.
    pub fn next_nonce(&self, address: &Address) -> anyhow::Result<(u64, u64)> {
        let committed = self.store.snapshot().account(address)?.nonce;
        Ok((
            committed,
            self.lock_mempool().pending_nonce(address, committed),
        ))
    }

    /// Checks what can be checked without state: size, chain, signature,
    /// gas bounds and field sizes. Returns the intrinsic gas.
    pub fn check_transaction(&self, tx: &SignedTransaction, bytes: usize) -> Result<u64, TxError> {
        check_transaction(&self.genesis, tx, bytes)
    }

    /// Admits a transaction from a client or a peer into the mempool.
    pub fn submit(&self, bytes: &[u8]) -> Result<(Hash, SignedTransaction), TxError> {
        let tx = SignedTransaction::decode_checked(bytes)?;
        self.check_transaction(&tx, bytes.len())?;
        let mut mempool = self.lock_mempool();
        // The nonce is read under the mempool's lock. A commit writes the
        // store and then tells the mempool; a nonce read before taking the
        // lock can predate a commit the mempool has already seen, and would
        // readmit transactions that block included.
        let committed = self
            .store
            .snapshot()
            .account(&tx.tx.sender)
            .map_err(|error| TxError::Malformed(format!("reading the sender's account: {error}")))?
            .nonce;
        let hash = mempool.insert(tx.clone(), bytes.len(), committed)?;
        let mempool_len = mempool.len();
        drop(mempool);
        self.metrics.mempool_size.set(to_i64(mempool_len));
        Ok((hash, tx))
    }

    /// Runs a read-only call against the latest committed state; nothing it
    /// does is kept.
    pub fn query(
        &self,
        contract: &Address,
        method: &str,
        input: &[u8],
        gas_limit: u64,
    ) -> anyhow::Result<Outcome> {
        let snapshot = self.store.snapshot();
        let head = snapshot.head()?;
        let changes = Changes::default();
        let view = View {
            snapshot: &snapshot,
            changes: &changes,
            deploy: None,
        };
        let call = Call {
            contract: contract.to_vm(),
            caller: cairn_vm::Address::default(),
            entry: method,
            input,
            gas_limit: gas_limit.min(self.params().max_tx_gas),
            block: BlockInfo {
                height: head.height,
                time_ms: head.time_ms,
            },
            read_only: true,
        };
        Ok(self.vm.execute(&call, &view)?)
    }

    pub fn contract(&self, address: &Address) -> anyhow::Result<Option<ContractInfo>> {
        self.store.snapshot().contract(address)
    }

    /// Executes `transactions` on the committed state as block `height`.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        snapshot: &StateSnapshot<'_>,
        head: &Head,
        time_ms: u64,
        proposer: &ValidatorKey,
        transactions: Vec<Arc<SignedTransaction>>,
        mode: Mode,
    ) -> Result<Executed, ExecError> {
        let height = head.height + 1;
        let block_info = BlockInfo { height, time_ms };
        let mut changes = Changes::default();
        let mut included = Vec::with_capacity(transactions.len());
        let mut receipts = Vec::with_capacity(transactions.len());
        let mut gas_used = 0u64;
        for (index, tx) in transactions.into_iter().enumerate() {
            let bytes = tx.encoded_len();
            let intrinsic = match check_transaction(&self.genesis, &tx, bytes) {
                Ok(intrinsic) => intrinsic,
                Err(error) if mode == Mode::Verify => {
                    return Err(ExecError::InvalidTransaction { index, error });
                }
                Err(_) => continue,
            };
            let sender = tx.tx.sender;
            let account = View {
                snapshot,
                changes: &changes,
                deploy: None,
            }
            .account(&sender)?;
            if account.nonce != tx.tx.nonce {
                if mode == Mode::Verify {
                    let error = if tx.tx.nonce < account.nonce {
                        TxError::NonceUsed {
                            expected: account.nonce,
                            found: tx.tx.nonce,
                        }
                    } else {
                        TxError::NonceTooFarAhead {
                            expected: account.nonce,
                            found: tx.tx.nonce,
                        }
                    };
                    return Err(ExecError::InvalidTransaction { index, error });
                }
                continue;
            }
            let mut updated = account;
            updated.nonce += 1;
            changes.accounts.insert(sender, updated);
            let receipt =
                self.execute_transaction(snapshot, &mut changes, &tx, intrinsic, block_info)?;
            gas_used += receipt.gas_used;
            receipts.push(receipt);
            included.push(Arc::unwrap_or_clone(tx));
        }

        let reader = self.store.tree_reader();
        let tree = JellyfishMerkleTree::<_, TreeHasher>::new(&reader);
        let (root, update) = tree
            .put_value_set(changes.tree_updates(), height)
            .context("updating the state tree")?;
        let tx_hashes: Vec<Hash> = included.iter().map(SignedTransaction::hash).collect();
        let receipt_hashes: Vec<Hash> = receipts.iter().map(Receipt::hash).collect();
        let block = Block {
            header: Header {
                height,
                time_ms,
                parent: head.block_hash,
                proposer: *proposer,
                tx_root: merkle_root(&tx_hashes),
                receipts_root: merkle_root(&receipt_hashes),
                state_root: root.0,
                gas_used,
            },
            transactions: included,
        };
        let bytes = Bytes::from(block.encode());
        Ok(Executed {
            block,
            bytes,
            receipts,
            changes,
            tree: update.node_batch,
        })
    }

    /// Executes one transaction whose nonce is already consumed. A failure
    /// of the transaction is its receipt; only a failure of this node
    /// (storage, engine) is an error.
    fn execute_transaction(
        &self,
        snapshot: &StateSnapshot<'_>,
        changes: &mut Changes,
        tx: &SignedTransaction,
        intrinsic: u64,
        block: BlockInfo,
    ) -> anyhow::Result<Receipt> {
        let sender = tx.tx.sender;
        let gas_limit = tx.tx.gas_limit - intrinsic;
        let mut receipt = Receipt {
            tx_hash: tx.hash(),
            status: 0,
            gas_used: intrinsic,
            output: Vec::new(),
            events: Vec::new(),
            contract: None,
        };
        let finish = |receipt: &mut Receipt, outcome: &Outcome| {
            receipt.status = outcome.status.code();
            receipt.gas_used += outcome.gas_used;
            receipt.output = outcome.output.clone();
            receipt.events = outcome
                .events
                .iter()
                .map(|event| Event {
                    contract: Address::from_vm(event.contract),
                    topic: event.topic.clone(),
                    data: event.data.clone(),
                })
                .collect();
        };
        match &tx.tx.action {
            Action::Call {
                contract,
                method,
                input,
            } => {
                let call = Call {
                    contract: contract.to_vm(),
                    caller: sender.to_vm(),
                    entry: method,
                    input,
                    gas_limit,
                    block,
                    read_only: false,
                };
                let outcome = self.vm.execute(
                    &call,
                    &View {
                        snapshot,
                        changes,
                        deploy: None,
                    },
                )?;
                finish(&mut receipt, &outcome);
                if outcome.status.is_ok() {
                    changes.apply_writes(&outcome.writes);
                }
            }
            Action::Deploy {
                code,
                abi,
                init_input,
            } => {
                let prepared = match self.vm.prepare(code) {
                    Ok(prepared) => prepared,
                    Err(PrepareError::Rejected(rejection)) => {
                        receipt.status = STATUS_DEPLOY_REJECTED;
                        receipt.output = rejection.to_string().into_bytes();
                        return Ok(receipt);
                    }
                    Err(PrepareError::Vm(error)) => return Err(error.into()),
                };
                let code_hash = prepared.code_hash.0;
                let address = contract_address(&sender, tx.tx.nonce);
                let has_init = prepared.summary.entry_points.iter().any(|e| e == "init");
                let outcome = if has_init {
                    let call = Call {
                        contract: address.to_vm(),
                        caller: sender.to_vm(),
                        entry: "init",
                        input: init_input,
                        gas_limit,
                        block,
                        read_only: false,
                    };
                    let view = View {
                        snapshot,
                        changes,
                        deploy: Some(PendingDeploy {
                            address,
                            code_hash,
                            code,
                        }),
                    };
                    self.vm.execute(&call, &view)?
                } else {
                    let status = if init_input.is_empty() {
                        Status::Ok
                    } else {
                        // Input for a constructor the code does not have is
                        // a mistake worth reporting, not ignoring.
                        Status::Trap(TrapCode::NoSuchEntry)
                    };
                    Outcome {
                        status,
                        gas_used: 0,
                        output: Vec::new(),
                        events: Vec::new(),
                        writes: Vec::new(),
                    }
                };
                finish(&mut receipt, &outcome);
                if outcome.status.is_ok() {
                    let view = View {
                        snapshot,
                        changes,
                        deploy: None,
                    };
                    let store_code = !view.has_code(&code_hash)?;
                    let store_abi = !abi.is_empty()
                        && !changes.abis.contains_key(&code_hash)
                        && self.store.abi(&code_hash)?.is_none();
                    if store_code {
                        changes.code.insert(code_hash, code.clone());
                    }
                    if store_abi {
                        changes.abis.insert(code_hash, abi.clone());
                    }
                    changes.contracts.insert(
                        address,
                        ContractInfo {
                            code_hash,
                            deployer: sender,
                            deployed_at: block.height,
                        },
                    );
                    changes.apply_writes(&outcome.writes);
                    receipt.contract = Some(address);
                }
            }
        }
        Ok(receipt)
    }

    fn remember(&self, executed: Executed) -> ExecutedBlock {
        let hash = executed.block.hash();
        let result = ExecutedBlock {
            hash,
            bytes: executed.bytes.clone(),
        };
        self.executed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(hash, Arc::new(executed));
        result
    }

    fn lock_execution(&self) -> std::sync::MutexGuard<'_, ()> {
        self.execution
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    pub fn build(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        now: SystemTime,
    ) -> anyhow::Result<ExecutedBlock> {
        let _execution = self.lock_execution();
        let started = Instant::now();
        let snapshot = self.store.snapshot();
        let head = snapshot.head()?;
        if height != head.height + 1 {
            bail!(
                "asked to build block {height} on top of committed height {}",
                head.height
            );
        }
        let time_ms = system_time_ms(now).max(head.time_ms + 1);
        // Room for the header and the transaction list's length prefix.
        let byte_budget = MAX_BLOCK_BYTES - 1024;
        let transactions = self.lock_mempool().select(
            self.params().block_gas_limit,
            byte_budget,
            MAX_BLOCK_TRANSACTIONS,
        );
        let executed = self
            .execute(
                &snapshot,
                &head,
                time_ms,
                proposer,
                transactions,
                Mode::Build,
            )
            .map_err(|error| anyhow!("building block {height}: {error}"))?;
        tracing::debug!(
            height,
            transactions = executed.block.transactions.len(),
            elapsed_ms = started.elapsed().as_millis(),
            "built block"
        );
        self.metrics
            .execution_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(self.remember(executed))
    }

    pub fn verify(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        let _execution = self.lock_execution();
        let started = Instant::now();
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(BlockRejected::Malformed(format!(
                "{} bytes; at most {MAX_BLOCK_BYTES}",
                bytes.len()
            )));
        }
        let block: Block = decode_exact(bytes).map_err(BlockRejected::Malformed)?;
        let hash = block.hash();
        let local = |error: anyhow::Error| BlockRejected::Local(format!("{error:#}"));
        let snapshot = self.store.snapshot();
        let head = snapshot.head().map_err(local)?;
        let header = &block.header;
        if header.height != height {
            return Err(BlockRejected::Invalid(format!(
                "block for height {} proposed at height {height}",
                header.height
            )));
        }
        if height <= head.height {
            // A block this node already committed, offered again by sync.
            let committed = self.store.block(height).map_err(local)?;
            return match committed {
                Some(committed) if committed.hash() == hash => Ok(ExecutedBlock {
                    hash,
                    bytes: Bytes::copy_from_slice(bytes),
                }),
                _ => Err(BlockRejected::Invalid(format!(
                    "conflicts with committed block {height}"
                ))),
            };
        }
        if height != head.height + 1 {
            return Err(BlockRejected::Local(format!(
                "block {height} is ahead of committed height {}",
                head.height
            )));
        }
        if let Some(executed) = self
            .executed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .get(&hash)
        {
            return Ok(ExecutedBlock {
                hash,
                bytes: executed.bytes.clone(),
            });
        }
        let invalid = |reason: String| Err(BlockRejected::Invalid(reason));
        if header.proposer != *proposer {
            return invalid(format!(
                "names proposer {} but was proposed by {}",
                hex::encode(header.proposer),
                hex::encode(proposer)
            ));
        }
        if header.parent != head.block_hash {
            return invalid(format!(
                "parent {} is not the committed block {}",
                hex::encode(header.parent),
                hex::encode(head.block_hash)
            ));
        }
        if header.time_ms <= head.time_ms {
            return invalid(format!(
                "time {} is not after the parent's {}",
                header.time_ms, head.time_ms
            ));
        }
        if header.time_ms > now_ms().saturating_add(MAX_CLOCK_DRIFT_MS) {
            return invalid(format!(
                "time {} is more than {MAX_CLOCK_DRIFT_MS} ms ahead of this node's clock",
                header.time_ms
            ));
        }
        if block.transactions.len() > MAX_BLOCK_TRANSACTIONS {
            return invalid(format!(
                "{} transactions; at most {MAX_BLOCK_TRANSACTIONS}",
                block.transactions.len()
            ));
        }
        let gas_limits = block
            .transactions
            .iter()
            .fold(0u64, |sum, tx| sum.saturating_add(tx.tx.gas_limit));
        if gas_limits > self.params().block_gas_limit {
            return invalid(format!(
                "its transactions' gas limits add up to {gas_limits}, above the block gas limit {}",
                self.params().block_gas_limit
            ));
        }
        let transactions = block.transactions.iter().cloned().map(Arc::new).collect();
        let executed = match self.execute(
            &snapshot,
            &head,
            header.time_ms,
            proposer,
            transactions,
            Mode::Verify,
        ) {
            Ok(executed) => executed,
            Err(ExecError::InvalidTransaction { index, error }) => {
                return invalid(format!("transaction {index}: {error}"));
            }
            Err(ExecError::Local(error)) => return Err(local(error)),
        };
        let ours = &executed.block.header;
        for (what, theirs, ours) in [
            ("state root", header.state_root, ours.state_root),
            ("receipts root", header.receipts_root, ours.receipts_root),
            ("transactions root", header.tx_root, ours.tx_root),
        ] {
            if theirs != ours {
                return invalid(format!(
                    "{what} {} differs from this node's execution {}",
                    hex::encode(theirs),
                    hex::encode(ours)
                ));
            }
        }
        if header.gas_used != ours.gas_used {
            return invalid(format!(
                "gas used {} differs from this node's execution {}",
                header.gas_used, ours.gas_used
            ));
        }
        debug_assert_eq!(executed.block.hash(), hash);
        self.metrics
            .execution_seconds
            .observe(started.elapsed().as_secs_f64());
        Ok(self.remember(executed))
    }

    pub fn commit(&self, height: u64, hash: &Hash, certificate: &[u8]) -> anyhow::Result<()> {
        let _execution = self.lock_execution();
        let head = self.store.head()?;
        if height <= head.height {
            // Consensus replays a decision after a crash between our commit
            // and its own record of it.
            let stored = self.store.block(height)?.map(|block| block.hash());
            if stored == Some(*hash) {
                return Ok(());
            }
            bail!("asked to commit block {height} over a different committed block");
        }
        if height != head.height + 1 {
            bail!(
                "asked to commit block {height} on top of committed height {}",
                head.height
            );
        }
        let executed = self
            .executed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .remove(hash)
            .ok_or_else(|| {
                anyhow!(
                    "block {} was decided but never executed here",
                    hex::encode(hash)
                )
            })?;
        let executed = Arc::try_unwrap(executed).unwrap_or_else(|shared| Executed {
            block: shared.block.clone(),
            bytes: shared.bytes.clone(),
            receipts: shared.receipts.clone(),
            changes: shared.changes.clone(),
            tree: shared.tree.clone(),
        });
        let header = executed.block.header.clone();
        let new_head = Head {
            height,
            block_hash: *hash,
            state_root: header.state_root,
            time_ms: header.time_ms,
        };
        let receipts = executed
            .receipts
            .iter()
            .enumerate()
            .map(|(index, receipt)| {
                let location = TxLocation {
                    height,
                    index: u32::try_from(index).unwrap_or(u32::MAX),
                };
                (receipt.tx_hash, location, receipt.clone())
            })
            .collect();
        let changes = &executed.changes;
        let writes = BlockWrites {
            block: Some((executed.block.clone(), executed.bytes.to_vec())),
            certificate: certificate.to_vec(),
            receipts,
            state: changes
                .storage
                .iter()
                .flat_map(|(contract, entries)| {
                    entries
                        .iter()
                        .map(move |(key, value)| ((*contract, key.clone()), value.clone()))
                })
                .collect(),
            accounts: changes.accounts.iter().map(|(a, b)| (*a, *b)).collect(),
            contracts: changes.contracts.iter().map(|(a, b)| (*a, *b)).collect(),
            code: changes.code.iter().map(|(a, b)| (*a, b.clone())).collect(),
            abis: changes.abis.iter().map(|(a, b)| (*a, b.clone())).collect(),
            tree: executed.tree,
            head: new_head,
        };
        self.store.commit(writes)?;
        *self
            .head
            .write()
            .unwrap_or_else(|poison| poison.into_inner()) = new_head;
        // Other rounds' blocks for this height can never be committed now.
        self.executed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clear();
        let nonces: BTreeMap<Address, u64> = changes
            .accounts
            .iter()
            .map(|(address, account)| (*address, account.nonce))
            .collect();
        let mempool_len = {
            let mut mempool = self.lock_mempool();
            mempool.update_nonces(nonces);
            mempool.len()
        };
        self.metrics.on_commit(
            &header,
            executed.block.transactions.len(),
            head.time_ms,
            mempool_len,
        );
        tracing::info!(
            height,
            hash = %hex::encode(hash),
            transactions = executed.block.transactions.len(),
            gas_used = header.gas_used,
            state_root = %hex::encode(header.state_root),
            "committed block"
        );
        // Nobody listening is fine.
        let _ = self.committed.send(Committed {
            height,
            hash: *hash,
            state_root: header.state_root,
            transactions: executed.block.transactions.len(),
            gas_used: header.gas_used,
        });
        Ok(())
    }
}

fn to_i64(value: usize) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Stateless validity of a transaction on `genesis`'s chain.
pub fn check_transaction(
    genesis: &Genesis,
    tx: &SignedTransaction,
    bytes: usize,
) -> Result<u64, TxError> {
    let t = &tx.tx;
    if t.chain_id != genesis.chain_id {
        let mut found = t.chain_id.clone();
        found.truncate(MAX_CHAIN_ID_BYTES);
        return Err(TxError::WrongChain {
            expected: genesis.chain_id.clone(),
            found,
        });
    }
    match &t.action {
        Action::Call { method, input, .. } => {
            if method.is_empty() || method.len() > MAX_METHOD_BYTES {
                let mut method = method.clone();
                method.truncate(MAX_METHOD_BYTES);
                return Err(TxError::BadMethod(method));
            }
            if input.len() > cairn_vm::limits::MAX_INPUT_BYTES {
                return Err(TxError::Malformed(format!(
                    "call input is {} bytes; at most {}",
                    input.len(),
                    cairn_vm::limits::MAX_INPUT_BYTES
                )));
            }
        }
        Action::Deploy {
            code,
            abi,
            init_input,
        } => {
            if code.len() > cairn_vm::limits::MAX_CODE_BYTES {
                return Err(TxError::Malformed(format!(
                    "code is {} bytes; at most {}",
                    code.len(),
                    cairn_vm::limits::MAX_CODE_BYTES
                )));
            }
            if abi.len() > MAX_ABI_BYTES {
                return Err(TxError::Malformed(format!(
                    "the ABI is {} bytes; at most {MAX_ABI_BYTES}",
                    abi.len()
                )));
            }
            if !abi.is_empty() && serde_json::from_slice::<serde_json::Value>(abi).is_err() {
                return Err(TxError::Malformed("the ABI is not JSON".into()));
            }
            if init_input.len() > cairn_vm::limits::MAX_INPUT_BYTES {
                return Err(TxError::Malformed(format!(
                    "constructor input is {} bytes; at most {}",
                    init_input.len(),
                    cairn_vm::limits::MAX_INPUT_BYTES
                )));
            }
        }
    }
    let params = &genesis.params;
    if t.gas_limit > params.max_tx_gas {
        return Err(TxError::GasAboveMaximum {
            limit: t.gas_limit,
            max: params.max_tx_gas,
        });
    }
    let intrinsic = params.intrinsic_gas(t, bytes);
    if t.gas_limit < intrinsic {
        return Err(TxError::GasBelowIntrinsic {
            limit: t.gas_limit,
            intrinsic,
        });
    }
    // Last: the most expensive check.
    tx.verify_signature()?;
    Ok(intrinsic)
}

impl ConsensusHost for Chain {
    fn committed_height(&self) -> u64 {
        self.head().height
    }

    fn earliest_height(&self) -> u64 {
        self.store.earliest_height().unwrap_or(1)
    }

    fn has_pending_transactions(&self) -> bool {
        self.lock_mempool().has_executable()
    }

    fn build_block(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        now: SystemTime,
    ) -> anyhow::Result<ExecutedBlock> {
        self.build(height, proposer, now)
    }

    fn verify_block(
        &self,
        height: u64,
        proposer: &ValidatorKey,
        bytes: &[u8],
    ) -> Result<ExecutedBlock, BlockRejected> {
        self.verify(height, proposer, bytes)
    }

    fn commit_block(
        &self,
        height: u64,
        hash: &BlockHash,
        certificate: &[u8],
    ) -> anyhow::Result<()> {
        self.commit(height, hash, certificate)
    }

    fn decided_block(&self, height: u64) -> anyhow::Result<Option<(Bytes, Bytes)>> {
        let Some(block) = self.store.block_bytes(height)? else {
            return Ok(None);
        };
        let certificate = self.store.certificate(height)?.unwrap_or_default();
        Ok(Some((Bytes::from(block), Bytes::from(certificate))))
    }

    fn store_undecided_proposal(
        &self,
        height: u64,
        round: u32,
        record: &[u8],
    ) -> anyhow::Result<()> {
        self.store.store_undecided(height, round, record)
    }

    fn undecided_proposals(&self, height: u64, round: u32) -> anyhow::Result<Vec<Vec<u8>>> {
        self.store.undecided(height, round)
    }
}

/// An in-memory tree for rebuilding a root from scratch.
#[derive(Debug, Default)]
struct ScratchTree;

impl TreeReader for ScratchTree {
    fn get_node_option(&self, _: &NodeKey) -> anyhow::Result<Option<Node>> {
        // put_value_set at version 0 starts from an empty tree and keeps
        // every node it creates in its own cache.
        Ok(None)
    }

    fn get_value_option(&self, _: Version, _: KeyHash) -> anyhow::Result<Option<OwnedValue>> {
        Ok(None)
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, jmt::storage::LeafNode)>> {
        Ok(None)
    }
}
