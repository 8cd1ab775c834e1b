//! The queue contract: what the SQLite queue and SQS must both do.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use shared::ports::{OutgoingMessage, Queue, QueueError};

/// A queue and its dead-letter queue; messages move there after two receives.
struct Pair {
    queue: Arc<dyn Queue>,
    dead: Arc<dyn Queue>,
}

const MAX_RECEIVES: u32 = 2;

async fn sqlite() -> Pair {
    use shared::adapters::local::{Db, SqliteQueue};
    let db = Db::in_memory().unwrap();
    Pair {
        queue: Arc::new(SqliteQueue::new(db.clone(), "q").with_redrive("q-dlq", MAX_RECEIVES)),
        dead: Arc::new(SqliteQueue::new(db, "q-dlq")),
    }
}

#[cfg(feature = "aws")]
async fn sqs() -> Pair {
    use shared::adapters::aws::SqsQueue;
    let clients = support::aws::clients().await;
    let name = support::aws::unique("q");
    let (url, dlq) = SqsQueue::create_with_dead_letter_queue(&clients.sqs, &name, MAX_RECEIVES)
        .await
        .unwrap();
    Pair {
        queue: Arc::new(SqsQueue::new(clients.sqs.clone(), url)),
        dead: Arc::new(SqsQueue::new(clients.sqs, dlq)),
    }
}

contract!(sqlite, sqs =>
    send_receive_ack, batches_of_any_length, unacked_messages_come_back, delays_hold_messages,
    redrive_after_max_receives, invalid_messages_are_refused, batch_acks,
);

const WAIT: Duration = Duration::from_secs(2);

/// Nothing visible is left in the queue.
async fn assert_drained(queue: &Arc<dyn Queue>) {
    let left = queue.receive(10, Duration::ZERO, NO_WAIT).await.unwrap();
    assert!(left.is_empty(), "{} left", left.len());
}
const NO_WAIT: Duration = Duration::ZERO;
const HIDE: Duration = Duration::from_secs(30);

async fn send_receive_ack(p: Pair) {
    let id = p
        .queue
        .send(OutgoingMessage::new(r#"{"job":"x"}"#))
        .await
        .unwrap();
    let got = p.queue.receive(10, HIDE, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].id, id);
    assert_eq!(got[0].body, r#"{"job":"x"}"#);
    assert_eq!(got[0].receive_count, 1);
    p.queue.ack(&got[0].receipt).await.unwrap();
    assert_drained(&p.queue).await;
}

async fn batches_of_any_length(p: Pair) {
    let bodies: Vec<String> = (0..23).map(|i| format!("m{i}")).collect();
    let ids = p
        .queue
        .send_batch(bodies.iter().map(OutgoingMessage::new).collect())
        .await
        .unwrap();
    assert_eq!(ids.len(), 23);
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 23);
    let mut seen = HashSet::new();
    for _ in 0..20 {
        for m in p
            .queue
            .receive(10, HIDE, Duration::from_millis(500))
            .await
            .unwrap()
        {
            seen.insert(m.body);
            p.queue.ack(&m.receipt).await.unwrap();
        }
        if seen.len() == 23 {
            break;
        }
    }
    assert_eq!(seen, bodies.into_iter().collect());
}

async fn batch_acks(p: Pair) {
    let bodies: Vec<String> = (0..13).map(|i| format!("a{i}")).collect();
    p.queue
        .send_batch(bodies.iter().map(OutgoingMessage::new).collect())
        .await
        .unwrap();
    let mut receipts = Vec::new();
    for _ in 0..20 {
        let got = p
            .queue
            .receive(10, HIDE, Duration::from_millis(500))
            .await
            .unwrap();
        receipts.extend(got.into_iter().map(|m| m.receipt));
        if receipts.len() == 13 {
            break;
        }
    }
    assert_eq!(receipts.len(), 13);
    // Past ten receipts, and one that is no longer valid: reported by position, the rest gone.
    let stale = receipts[3].clone();
    p.queue.ack(&stale).await.unwrap();
    match p.queue.ack_batch(&receipts).await {
        Ok(()) => {} // SQS accepts a receipt of a message already deleted.
        Err(QueueError::PartialBatch { failed }) => assert_eq!(failed, vec![3]),
        Err(e) => panic!("{e}"),
    }
    assert_drained(&p.queue).await;
    p.queue.ack_batch(&[]).await.unwrap();
}

async fn unacked_messages_come_back(p: Pair) {
    p.queue.send(OutgoingMessage::new("again")).await.unwrap();
    let first = p
        .queue
        .receive(1, Duration::from_secs(1), WAIT)
        .await
        .unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        p.queue.receive(1, HIDE, NO_WAIT).await.unwrap().is_empty(),
        "hidden while in flight"
    );
    let second = p
        .queue
        .receive(1, HIDE, Duration::from_secs(3))
        .await
        .unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].id, first[0].id);
    assert_eq!(second[0].receive_count, 2);
    assert_ne!(second[0].receipt, first[0].receipt);
}

async fn delays_hold_messages(p: Pair) {
    p.queue
        .send(OutgoingMessage::new("later").delayed(Duration::from_secs(2)))
        .await
        .unwrap();
    assert!(p.queue.receive(1, HIDE, NO_WAIT).await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let got = p.queue.receive(1, HIDE, WAIT).await.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body, "later");
}

async fn redrive_after_max_receives(p: Pair) {
    p.queue.send(OutgoingMessage::new("poison")).await.unwrap();
    for n in 1..=MAX_RECEIVES {
        let got = p.queue.receive(1, Duration::ZERO, WAIT).await.unwrap();
        assert_eq!(got.len(), 1, "receive {n}");
        assert_eq!(got[0].receive_count, n);
    }
    // The next receive moves it instead of delivering it.
    for _ in 0..3 {
        assert!(p
            .queue
            .receive(1, Duration::ZERO, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty());
    }
    let dead = p.dead.receive(1, HIDE, WAIT).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body, "poison");
}

async fn invalid_messages_are_refused(p: Pair) {
    let huge = OutgoingMessage::new("x".repeat(256 * 1024 + 1));
    assert!(matches!(
        p.queue.send(huge).await,
        Err(QueueError::Invalid(_))
    ));
    let late = OutgoingMessage::new("x").delayed(Duration::from_secs(901));
    assert!(matches!(
        p.queue.send(late).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        p.queue.send(OutgoingMessage::new("")).await,
        Err(QueueError::Invalid(_))
    ));
    assert!(matches!(
        p.queue.receive(11, HIDE, NO_WAIT).await,
        Err(QueueError::Invalid(_))
    ));
}
