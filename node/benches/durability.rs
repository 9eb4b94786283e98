//! What a validator's durability costs per message, against the work it
//! guards, measured in the same run:
//!
//! - `durability/vote_guarded`: signing a vote through the signer's
//!   record of what it signed (`consensus::guard`: the record rewritten,
//!   synced and renamed, the directory synced) against
//!   `durability/vote_bare`, the ed25519 signature alone;
//! - `durability/proposal_stored`: storing an undecided proposal's record
//!   (synced RocksDB write) against `durability/proposal_signed`, the
//!   proposer's signature over a block.
//!
//! `cargo bench -p cairn-node --bench durability`. The databases and files
//! are under the target directory, on the disk the node would use, not on
//! a tmpfs where a sync costs nothing.

use std::hint::black_box;

use cairn_node::consensus::context::{BlockId, Height, ValidatorAddress, Vote};
use cairn_node::consensus::guard::SignGuard;
use cairn_node::consensus::signing::{ChainTag, ValidatorSigner};
use cairn_node::state::{Changes, Store};
use criterion::{Criterion, criterion_group, criterion_main};
use malachitebft_app_channel::app::types::core::{NilOrVal, Round, VoteType};
use malachitebft_signing_ed25519::PrivateKey;

fn vote(height: u64) -> Vote {
    Vote {
        vote_type: VoteType::Prevote,
        height: Height(height),
        round: Round::new(0),
        value: NilOrVal::Val(BlockId([7; 32])),
        validator: ValidatorAddress([1; 32]),
    }
}

fn durability(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("a directory on disk");
    let signer = ValidatorSigner::new(PrivateKey::from([3; 32]), ChainTag([1; 32]));
    let guard = SignGuard::open(&dir.path().join("signed_state")).expect("the guard opens");
    let mut group = c.benchmark_group("durability");

    // Every iteration a new height: one fresh record, as at each height.
    let mut height = 0u64;
    group.bench_function("vote_guarded", |b| {
        b.iter(|| {
            height += 1;
            let vote = vote(height);
            let bytes = format!("{vote:?}");
            black_box(
                guard
                    .vote(&vote, || signer.sign_bytes(bytes.as_bytes()))
                    .expect("a new height is signed"),
            )
        })
    });
    group.bench_function("vote_bare", |b| {
        b.iter(|| {
            height += 1;
            let bytes = format!("{:?}", vote(height));
            black_box(signer.sign_bytes(bytes.as_bytes()))
        })
    });

    let store = Store::open(&dir.path().join("db")).expect("the store opens");
    store
        .init_genesis([1; 32], 0, &Changes::default())
        .expect("a genesis");
    let record = vec![5u8; 16 * 1024];
    let mut round = 0u32;
    let mut next_height = 1u64;
    group.bench_function("proposal_stored", |b| {
        b.iter(|| {
            // Stay within the per-round cap of stored records.
            round += 1;
            if round == 1_000_000 {
                round = 0;
                next_height += 1;
            }
            store
                .store_undecided(next_height, round, &record)
                .expect("the record is stored")
        })
    });
    group.bench_function("proposal_signed", |b| {
        b.iter(|| black_box(signer.sign_bytes(&record)))
    });
    group.finish();
}

criterion_group!(benches, durability);
criterion_main!(benches);
