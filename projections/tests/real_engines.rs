//! The projection store conformance suite on Cassandra, and the whole projector flow on real Kafka and
//! Cassandra: a realistic stream encoded by the services' own encoders, a kill mid-stream and restart,
//! republished copies and a full replay (nothing counted twice), a rebuild (identical rows), and the
//! measured projection lag (printed, never asserted).
//!
//! Gated: `THRIFTSHOP_TEST_CASSANDRA=127.0.0.1:9042` and `THRIFTSHOP_TEST_KAFKA=127.0.0.1:9092` (a skip
//! fails under `THRIFTSHOP_REQUIRE_INFRA=1`). Each run uses a fresh keyspace (dropped at the end) and a fresh
//! Kafka topic namespace.
mod common;

use std::time::Duration;

use scylla::statement::Statement;
use shop_bus::kafka::{KafkaBus, KafkaSettings};
use shop_projections::{
    conformance,
    store::cassandra::{CassandraProjectionStore, CassandraSettings},
};

fn settings(nodes: &str, keyspace: &str) -> CassandraSettings {
    CassandraSettings {
        nodes: nodes.split(',').map(|n| n.trim().to_string()).collect(),
        keyspace: keyspace.to_string(),
        replication_factor: 1,
        request_timeout: Duration::from_secs(10),
        local_datacenter: None,
    }
}

/// Runs `body` on a store in a fresh keyspace, then drops the keyspace even if `body` panicked.
async fn with_keyspace<F, Fut>(nodes: &str, body: F)
where
    F: FnOnce(CassandraProjectionStore) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let keyspace = format!("projections_{}", shop_kernel::ids::new_id());
    let store = CassandraProjectionStore::connect(settings(nodes, &keyspace))
        .await
        .expect("connect");
    // Connecting twice is harmless: the migrations are recorded and idempotent.
    CassandraProjectionStore::connect(settings(nodes, &keyspace))
        .await
        .expect("reconnect");
    let outcome = tokio::spawn(body(store.clone())).await;
    let mut drop = Statement::new(format!("DROP KEYSPACE IF EXISTS {keyspace}"));
    drop.set_request_timeout(Some(Duration::from_secs(60)));
    store
        .session()
        .query_unpaged(drop, ())
        .await
        .expect("drop keyspace");
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cassandra_store_conforms() {
    let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
        return;
    };
    with_keyspace(&nodes, |store| async move {
        let started = std::time::Instant::now();
        conformance::run_all(store).await;
        eprintln!(
            "projection store conformance on Cassandra: {:?}",
            started.elapsed()
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_cassandra_projections_are_exact_restartable_and_rebuildable() {
    let Some(nodes) = shop_kernel::test_engine("THRIFTSHOP_TEST_CASSANDRA") else {
        return;
    };
    let Some(brokers) = shop_kernel::test_engine("THRIFTSHOP_TEST_KAFKA") else {
        return;
    };
    let tag = shop_kernel::ids::new_id()[20..].to_string();
    let namespace = format!("projections-{tag}");
    let bus = KafkaBus::connect(KafkaSettings {
        brokers: brokers.clone(),
        partitions: 3,
        namespace: namespace.clone(),
        ..KafkaSettings::default()
    })
    .expect("kafka");
    let outcome = tokio::spawn(async move {
        with_keyspace(&nodes, move |store| async move {
            let started = std::time::Instant::now();
            common::full_flow(
                bus,
                store,
                &tag,
                40,
                common::Copies::SameEventId,
                Duration::from_secs(90),
            )
            .await;
            eprintln!("kafka → cassandra flow: {:?}", started.elapsed());
        })
        .await
    })
    .await;
    delete_namespace(&brokers, &namespace).await;
    if let Err(e) = outcome {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Deletes the topics and consumer groups of a test namespace (best effort).
async fn delete_namespace(brokers: &str, namespace: &str) {
    use rdkafka::{
        ClientConfig,
        admin::{AdminClient, AdminOptions},
        client::DefaultClientContext,
    };
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .expect("admin client");
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let metadata = admin
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata");
    let topics: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|t| t.starts_with(&format!("{namespace}.")))
        .collect();
    let topic_refs: Vec<&str> = topics.iter().map(String::as_str).collect();
    if !topic_refs.is_empty()
        && let Err(e) = admin.delete_topics(&topic_refs, &opts).await
    {
        eprintln!("deleting the test topics failed: {e}");
    }
    let groups: Vec<String> = admin
        .inner()
        .fetch_group_list(None, Duration::from_secs(10))
        .map(|l| {
            l.groups()
                .iter()
                .map(|g| g.name().to_string())
                .filter(|g| g.starts_with(&format!("{namespace}.")))
                .collect()
        })
        .unwrap_or_default();
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    if !group_refs.is_empty()
        && let Err(e) = admin.delete_groups(&group_refs, &opts).await
    {
        eprintln!("deleting the test consumer groups failed: {e}");
    }
    eprintln!(
        "deleted {} topics and {} consumer groups of {namespace}",
        topics.len(),
        groups.len()
    );
}
