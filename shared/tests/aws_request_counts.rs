//! The AWS clients count every request they send, by service and operation, with the DynamoDB
//! capacity units AWS would bill: what the cost benchmark (docs/costs.md) prices.
#![cfg(feature = "aws")]

mod support;

use shared::adapters::aws::{DynamoItemStore, SqsQueue};
use shared::ports::{
    Condition, Item, ItemStore, Key, OutgoingMessage, Queue, StoreError, Update, Value, Write,
};

fn item(pk: &str) -> Item {
    Item::new(Key::new(pk, "A")).with("v", Value::S("x".into()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_counted_with_the_units_aws_bills() {
    let clients = support::aws::clients().await;
    let table = support::aws::unique("counted");
    DynamoItemStore::create_table(&clients.dynamodb, &table)
        .await
        .unwrap();
    let (url, _) =
        SqsQueue::create_with_dead_letter_queue(&clients.sqs, &support::aws::unique("q"), 3)
            .await
            .unwrap();
    let store = DynamoItemStore::new(clients.dynamodb.clone(), &table);
    let queue = SqsQueue::new(clients.sqs.clone(), url);
    clients.requests.reset();

    store.put(item("P#1"), None).await.unwrap();
    store.get(&Key::new("P#1", "A")).await.unwrap();
    // A 3 KB item is three write units.
    store
        .put(item("P#2").with("big", Value::S("y".repeat(3000))), None)
        .await
        .unwrap();
    // Two items in a transaction: two units each.
    store
        .transact(vec![Write::put(item("P#3")), Write::put(item("P#4"))])
        .await
        .unwrap();
    // One write needs no transaction: it goes as the plain write, at the plain price.
    store
        .transact(vec![Write::Update(
            Update::new(Key::new("P#1", "A")).add("n", 1),
        )])
        .await
        .unwrap();
    // A failed condition is billed too.
    let refused = store.transact(vec![Write::put_new(item("P#3"))]).await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { index: Some(0) })),
        "{refused:?}"
    );
    let refused = store
        .transact(vec![
            Write::put_new(item("P#4")),
            Write::Update(
                Update::new(Key::new("P#1", "A"))
                    .add("n", 1)
                    .when(Condition::AttributeNotExists("w".into())),
            ),
        ])
        .await;
    assert!(
        matches!(refused, Err(StoreError::ConditionFailed { index: Some(0) })),
        "{refused:?}"
    );
    queue.send(OutgoingMessage::new("{}")).await.unwrap();

    let counts = clients.requests.snapshot();
    let of = |service: &str, op: &str| {
        counts
            .get(&(service.to_owned(), op.to_owned()))
            .copied()
            .unwrap_or_default()
    };
    assert_eq!(of("DynamoDB", "PutItem").requests, 3, "{counts:?}");
    assert_eq!(of("DynamoDB", "PutItem").capacity_units, 5.0, "{counts:?}");
    assert_eq!(of("DynamoDB", "GetItem").requests, 1);
    assert_eq!(
        of("DynamoDB", "GetItem").capacity_units,
        1.0,
        "a strongly consistent read"
    );
    assert_eq!(of("DynamoDB", "UpdateItem").requests, 1);
    assert_eq!(of("DynamoDB", "UpdateItem").capacity_units, 1.0);
    assert_eq!(of("DynamoDB", "TransactWriteItems").requests, 2);
    assert_eq!(of("DynamoDB", "TransactWriteItems").capacity_units, 8.0);
    assert_eq!(of("SQS", "SendMessage").requests, 1);
    assert_eq!(of("SQS", "SendMessage").capacity_units, 0.0);

    assert!(
        clients.requests.transacted().is_empty(),
        "items are named only when asked"
    );

    // A transaction's items are named, with the index writes DynamoDB Local does not report:
    // a put carrying GSI1's keys writes one entry, an update that moves it two.
    clients.requests.reset();
    clients.requests.name_items();
    store
        .transact(vec![
            Write::put(item("P#5").with_gsi1(Key::new("I#1", "1"))),
            Write::Update(Update::new(Key::new("P#1", "A")).index(Some(Key::new("I#1", "2")))),
            Write::put(item("P#6")),
        ])
        .await
        .unwrap();
    let transacted = clients.requests.transacted();
    let index_writes = |pk: &str| transacted[&(pk.to_owned(), "A".to_owned())].index_writes;
    assert_eq!(transacted.len(), 3, "{transacted:?}");
    assert!(transacted.values().all(|t| t.writes == 1), "{transacted:?}");
    assert_eq!(
        [
            index_writes("P#5"),
            index_writes("P#1"),
            index_writes("P#6")
        ],
        [1, 2, 0]
    );
    assert!(
        clients.requests.by_kind().is_empty(),
        "a transaction's units are priced from its items, not by kind"
    );

    // Other requests' units go to the kind of item they name (the sort key up to its `#`).
    store.get(&Key::new("P#5", "A")).await.unwrap();
    store
        .put(
            Item::new(Key::new("P#7", "BIG#1")).with("big", Value::S("y".repeat(3000))),
            None,
        )
        .await
        .unwrap();
    let by_kind = clients.requests.by_kind();
    assert_eq!(by_kind["A"].read, 1.0, "{by_kind:?}");
    assert_eq!(by_kind["BIG"].write, 3.0, "{by_kind:?}");
}
