//! The fetch metrics: latency per fetch and failures per issuer, labelled by
//! the configured issuer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

use crate::common::{Reply, Server, builder, clock, key};

/// (metric name, `issuer` label) → (times incremented or recorded).
type Seen = Arc<Mutex<BTreeMap<(String, String), u64>>>;

struct Recording(Seen);

struct Handle {
    seen: Seen,
    id: (String, String),
}

impl CounterFn for Handle {
    fn increment(&self, value: u64) {
        *self
            .seen
            .lock()
            .unwrap()
            .entry(self.id.clone())
            .or_default() += value;
    }
    fn absolute(&self, value: u64) {
        self.seen.lock().unwrap().insert(self.id.clone(), value);
    }
}

impl HistogramFn for Handle {
    fn record(&self, _value: f64) {
        *self
            .seen
            .lock()
            .unwrap()
            .entry(self.id.clone())
            .or_default() += 1;
    }
}

impl Recording {
    fn handle(&self, key: &Key) -> Arc<Handle> {
        let issuer = key
            .labels()
            .find(|l| l.key() == "issuer")
            .map(|l| l.value().to_owned())
            .unwrap_or_default();
        Arc::new(Handle {
            seen: Arc::clone(&self.0),
            id: (key.name().to_owned(), issuer),
        })
    }
}

impl Recorder for Recording {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

/// The process-wide recorder (installed once; each test reads its own
/// issuer's label, so tests sharing the process do not disturb each other).
fn seen() -> Seen {
    static SEEN: OnceLock<Seen> = OnceLock::new();
    SEEN.get_or_init(|| {
        let seen = Seen::default();
        metrics::set_global_recorder(Recording(Arc::clone(&seen))).unwrap();
        seen
    })
    .clone()
}

#[tokio::test]
async fn fetches_and_failures_are_counted_per_issuer() {
    let seen = seen();
    let server = Server::start().await;
    let issuer = server.url("/metrics-test");
    server.set_jwks("/jwks", &[&key()]);
    let keys = builder(&clock())
        .trust_jwks(&issuer, server.url("/jwks"))
        .build()
        .await
        .unwrap();
    server.set("/jwks", Reply::status(500));
    keys.refresh_now(&issuer).await.unwrap_err();
    keys.refresh_now(&issuer).await.unwrap_err();

    let seen = seen.lock().unwrap();
    let count = |name: &str| {
        seen.get(&(name.to_owned(), issuer.clone()))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(
        count("passport_key_fetch_seconds"),
        3,
        "every fetch is timed"
    );
    assert_eq!(count("passport_key_fetch_failures_total"), 2);
}
