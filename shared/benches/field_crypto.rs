//! Field encryption and blind index throughput, through the keyring as services use it
//! (cached tenant key), on a 48-byte value. Run: `cargo bench -p shared --features local`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use shared::adapters::local::{Db, FileKeyVault, SqliteItemStore};
use shared::crypto::{CachePolicy, FieldRef, Keyring};
use shared::domain::AccountId;
use shared::ports::{ItemStore, Key};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let items: Arc<dyn ItemStore> = Arc::new(SqliteItemStore::new(Db::in_memory().unwrap()));
    let keyring = Keyring::new(
        Arc::new(FileKeyVault::ephemeral()),
        items.clone(),
        CachePolicy::default(),
    );
    let tenant = AccountId::generate();
    rt.block_on(async {
        let item = keyring.provision(&tenant).await.unwrap();
        items.put(item, None).await.unwrap();
    });
    let key = Key::new("ACCOUNT#acc_01", "CONTACT#01JD0000000000000000000000");
    let field = FieldRef::new("contact", &key, "name");
    let value = b"Ana Maria Rodrigues de Souza, +55 11 91234-5678";
    let sealed = rt.block_on(keyring.encrypt(&tenant, field, value)).unwrap();

    let mut g = c.benchmark_group("field");
    g.throughput(Throughput::Elements(1));
    g.bench_function("encrypt_48B", |b| {
        b.to_async(&rt)
            .iter(|| keyring.encrypt(&tenant, field, value))
    });
    g.bench_function("decrypt_48B", |b| {
        b.to_async(&rt)
            .iter(|| keyring.decrypt(&tenant, field, &sealed))
    });
    g.bench_function("blind_index_phone", |b| {
        b.to_async(&rt)
            .iter(|| keyring.blind_index(&tenant, "phone", "+5511912345678"))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
