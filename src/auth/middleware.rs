//! The actix-web middleware that authenticates and authorizes every request before any handler
//! (or streaming body) runs, in the order of Go's handler chain: authentication, then
//! authorization. Identity headers and the bearer token never reach the handlers; the
//! authenticated [`UserInfo`] does, in the request extensions.

use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderName;
use actix_web::{Error, HttpMessage as _};
use futures::future::LocalBoxFuture;

use super::authn::{Authenticator, AuthnOutcome};
use super::authz::{Attributes, Authorizer, Decision};
use super::identity::UserInfo;
use super::respond;
use super::tls::PeerCerts;

/// Authentication and authorization, shared by every worker.
#[derive(Debug)]
pub struct Guard {
    /// The authenticator chain.
    pub authn: Authenticator,
    /// The authorizer chain.
    pub authz: Authorizer,
}

/// The middleware factory: `App::new().wrap(Security(guard.clone()))`.
#[derive(Debug, Clone)]
pub struct Security(pub Arc<Guard>);

impl<S, B> Transform<S, ServiceRequest> for Security
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Transform = SecurityService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(SecurityService {
            inner: Rc::new(service),
            guard: self.0.clone(),
        }))
    }
}

/// The per-worker middleware service.
pub struct SecurityService<S> {
    inner: Rc<S>,
    guard: Arc<Guard>,
}

impl<S, B> Service<ServiceRequest> for SecurityService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = Error;
    type Future = LocalBoxFuture<'static, Result<Self::Response, Self::Error>>;

    forward_ready!(inner);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        let inner = self.inner.clone();
        let guard = self.guard.clone();
        Box::pin(async move {
            let chain = req.conn_data::<PeerCerts>().map(|p| p.0.clone());
            let chain = chain.as_deref().unwrap_or(&[]);
            let outcome = guard.authn.authenticate(chain, req.headers()).await;
            let (user, method) = match outcome {
                AuthnOutcome::User(user, method) => (user, method),
                AuthnOutcome::Unauthorized(errors) => {
                    tracing::info!(path = %req.path(), ?errors, "unable to authenticate the request");
                    return Ok(req
                        .into_response(respond::unauthorized())
                        .map_into_right_body());
                }
            };
            strip_credentials(&mut req, &guard);
            let attrs =
                Attributes::from_request(req.method().as_str(), req.path(), req.query_string());
            match guard.authz.authorize(&user, &attrs).await {
                Decision::Allow => {}
                Decision::Forbid(reason) => {
                    tracing::debug!(user = %user.name, ?method, ?attrs, %reason, "forbidden");
                    return Ok(req
                        .into_response(respond::forbidden(&user.name, &attrs, &reason))
                        .map_into_right_body());
                }
                Decision::Error(err) => {
                    tracing::warn!(user = %user.name, ?attrs, error = %err, "authorization failed closed");
                    let uri = req
                        .uri()
                        .path_and_query()
                        .map_or_else(|| req.path().to_string(), |pq| pq.as_str().to_string());
                    return Ok(req
                        .into_response(respond::internal_error(&uri, &err))
                        .map_into_right_body());
                }
            }
            req.extensions_mut().insert::<UserInfo>(user);
            inner
                .call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        })
    }
}

/// Removes the bearer token and every request-header identity header, whoever sent them.
fn strip_credentials(req: &mut ServiceRequest, guard: &Guard) {
    let config = guard.authn.config.get();
    let doomed: Vec<HeaderName> = req
        .headers()
        .keys()
        .filter(|k| *k == "authorization" || config.is_identity_header(k.as_str()))
        .cloned()
        .collect();
    let headers = req.headers_mut();
    for name in doomed {
        headers.remove(name);
    }
}
