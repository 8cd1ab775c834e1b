//! A router built one route at a time that keeps the list of what it serves, so tests and the
//! API document are held to the router itself rather than to a copy of its routes.

use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;

/// The routes of one HTTP function: its axum router, and each (method, path) it serves.
pub struct RouteTable<S> {
    router: Router<S>,
    served: Vec<(&'static str, &'static str)>,
}

impl<S: Clone + Send + Sync + 'static> Default for RouteTable<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: Clone + Send + Sync + 'static> RouteTable<S> {
    pub fn new() -> Self {
        Self {
            router: Router::new(),
            served: Vec::new(),
        }
    }

    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("GET", path, routing::get(handler))
    }

    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("POST", path, routing::post(handler))
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("PATCH", path, routing::patch(handler))
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.add("DELETE", path, routing::delete(handler))
    }

    /// A `POST` whose body may be larger (or must be smaller) than the router's limit.
    pub fn post_limited<H: Handler<T, S>, T: 'static>(
        self,
        path: &'static str,
        handler: H,
        body_limit: usize,
    ) -> Self {
        let route = routing::post(handler).layer(DefaultBodyLimit::max(body_limit));
        self.add("POST", path, route)
    }

    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<S>) -> Self {
        self.served.push((method, path));
        self.router = self.router.route(path, route);
        self
    }

    /// Every (method, path) the router serves, in the order they were added.
    pub fn served(&self) -> &[(&'static str, &'static str)] {
        &self.served
    }

    pub fn into_router(self) -> Router<S> {
        self.router
    }
}
