//! A webhook receiver on loopback that keeps every JSON body it is sent.

use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::loopback_server_runtime;

pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Value>>>,
    _rt: tokio::runtime::Runtime,
}

/// A receiver at `path` (incoming-webhook URLs carry their secret there).
pub fn receiver_at(path: &str) -> Receiver {
    let (rt, listener) = loopback_server_runtime();
    let url = format!("http://{}{path}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let seen = bodies.clone();
    let app = axum::Router::new().fallback(move |body: axum::Json<Value>| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(body.0);
            "ok"
        }
    });
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver {
        url,
        bodies,
        _rt: rt,
    }
}

pub fn receiver() -> Receiver {
    receiver_at("/hook")
}
