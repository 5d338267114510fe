//! Client ID metadata documents (draft-ietf-oauth-client-id-metadata-document):
//! a `client_id` that is an `https` URL names a JSON document describing the
//! client, which the server fetches.
//!
//! Fetching a URL a stranger chose is a server-side request forgery risk, so
//! [`ClientMetadataFetcher::fetch`]:
//!
//! - accepts only `https` URLs with a host and a path, no user name or
//!   password, no fragment, no dot segments, in canonical form
//!   ([`ClientIdUrl::parse`]); `http` only in the explicit test mode
//!   ([`ClientMetadataFetcher::dangerous_test_mode`]) and only to loopback
//!   addresses;
//! - resolves the name once through the injected [`Resolver`] and refuses it
//!   unless **every** address is public ([`is_public`]: no loopback, private,
//!   CGNAT, link-local, unique-local, multicast, unspecified, documentation,
//!   benchmarking or reserved range, nor an IPv4 address embedded in IPv6);
//! - connects to the checked address only (the HTTP client is pinned to it,
//!   so a DNS answer that changes between check and connect — rebinding —
//!   changes nothing), ignores proxies, follows no redirect, stops after
//!   [`FetchPolicy::max_bytes`] and [`FetchPolicy::timeout`];
//! - caches the document as long as its `Cache-Control` says, within
//!   [`FetchPolicy::min_ttl`]..[`FetchPolicy::max_ttl`], in a bounded cache.
//!
//! The document must name itself (`client_id` equal to the URL, character
//! for character), list valid `redirect_uris`, and use `none` or
//! `private_key_jwt` (with `jwks` or `jwks_uri`); it may not carry a
//! `client_secret`.
//!
//! ```
//! use passport_server::client_metadata::{ClientIdUrl, is_public};
//! assert!(ClientIdUrl::parse("https://app.example/oauth/client.json", false).is_ok());
//! let err = ClientIdUrl::parse("https://app.example", false).unwrap_err();
//! assert_eq!(err.code(), "client_id_url_invalid");
//! assert!(!is_public("169.254.169.254".parse().unwrap()));
//! assert!(!is_public("::ffff:10.0.0.1".parse().unwrap()));
//! assert!(is_public("93.184.215.14".parse().unwrap()));
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use passport_claims::Clock;
use passport_jose::JwkSet;
use passport_remote::{CacheLifetime, RemoteError};
use serde_json::{Map, Value};
use url::{Host, Url};

use crate::oauth::{OAuthError, codes};

/// Why a client ID metadata document was not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientMetadataError {
    /// The `client_id` is not an acceptable metadata document URL.
    #[error("client_id is not a valid metadata document URL: {0}")]
    InvalidUrl(&'static str),
    /// The name did not resolve.
    #[error("cannot resolve the client_id host: {0}")]
    Resolve(String),
    /// The name resolves to an address that is not public.
    #[error("client_id host resolves to a forbidden address {0}")]
    ForbiddenAddress(IpAddr),
    /// Resolving or fetching took longer than the policy allows.
    #[error("fetching the client metadata document timed out")]
    Timeout,
    /// The fetch failed (transport, status, redirect, size).
    #[error("fetching the client metadata document: {0}")]
    Fetch(#[from] RemoteError),
    /// Not a JSON object, or a member of the wrong type.
    #[error("client metadata document invalid: {0}")]
    InvalidDocument(String),
    /// The document's `client_id` is not its URL.
    #[error("the document's client_id is not the URL it was fetched from")]
    ClientIdMismatch,
    /// `redirect_uris` missing, empty, or holding an unacceptable URI.
    #[error("client metadata redirect_uris invalid: {0}")]
    RedirectUris(String),
    /// `token_endpoint_auth_method` other than `none` / `private_key_jwt`, or
    /// `private_key_jwt` without keys.
    #[error("client metadata token_endpoint_auth_method invalid: {0}")]
    AuthMethod(String),
    /// The document carries `client_secret` or `client_secret_expires_at`.
    #[error("client metadata documents cannot carry a client secret")]
    SecretPresent,
    /// Loading a client's RSA keys waited too long for its turn (other
    /// clients' keys were loading), found too many addresses waiting for
    /// it, or did not finish: see [`KEY_LOAD_WAIT`].
    #[error("the server is busy loading other clients' keys; try again later")]
    KeysBusy,
}

passport_jose::error_codes! {
    ClientMetadataError {
        ClientMetadataError::InvalidUrl(_) => "client_id_url_invalid":
            "A URL client_id is not https with a host and a path, or has credentials, a fragment, dot segments or a non-canonical form.",
        ClientMetadataError::Resolve(_) => "client_id_resolve_failed":
            "The host of a URL client_id does not resolve.",
        ClientMetadataError::ForbiddenAddress(_) => "client_id_address_forbidden":
            "The host of a URL client_id resolves to a loopback, private, link-local or otherwise non-public address.",
        ClientMetadataError::Timeout => "client_metadata_timeout":
            "Resolving or fetching a client metadata document took too long.",
        ClientMetadataError::InvalidDocument(_) => "client_metadata_invalid":
            "A client metadata document is not a JSON object of the expected members.",
        ClientMetadataError::ClientIdMismatch => "client_metadata_client_id_mismatch":
            "A client metadata document's client_id is not the URL it was fetched from.",
        ClientMetadataError::RedirectUris(_) => "client_metadata_redirect_uris_invalid":
            "A client metadata document's redirect_uris are missing, empty or invalid.",
        ClientMetadataError::AuthMethod(_) => "client_metadata_auth_method_invalid":
            "A client metadata document names a secret-based or unknown auth method, or private_key_jwt without keys.",
        ClientMetadataError::SecretPresent => "client_metadata_secret_present":
            "A client metadata document carries client_secret or client_secret_expires_at.",
        ClientMetadataError::KeysBusy => "client_keys_busy":
            "Loading a client's RSA keys waited too long for its turn behind other clients' key loads (one at a time, network by network), found too many networks waiting, or did not finish.",
    }
    wraps {
        ClientMetadataError::Fetch(e) => e.code(),
    }
}

impl ClientMetadataError {
    /// The answer: `invalid_client` (400); for [`ClientMetadataError::KeysBusy`],
    /// the server's condition, 503 `temporarily_unavailable`. At
    /// `/authorize` it is shown as a direct error page, never sent to a
    /// redirect URI.
    pub fn oauth(&self) -> OAuthError {
        match self {
            ClientMetadataError::KeysBusy => self.busy(),
            _ => OAuthError::new(400, codes::INVALID_CLIENT, self.to_string()),
        }
    }

    /// 503 `temporarily_unavailable`, naming the code.
    pub(crate) fn busy(&self) -> OAuthError {
        OAuthError::new(
            503,
            codes::TEMPORARILY_UNAVAILABLE,
            format!("{}: {self}", self.code()),
        )
    }
}

/// How long a load of a client's RSA keys waits for its turn before the
/// request is refused ([`ClientMetadataError::KeysBusy`]): longer than a
/// load of the most keys a client may have (eight 4096-bit RSA keys take
/// about 0.2 s), so only a queue of many loads reaches it.
pub const KEY_LOAD_WAIT: Duration = Duration::from_secs(5);

/// Where a key set loads (see [`KeyLoads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Load {
    /// No RSA key can be in it: at once, where it is asked for.
    Cheap,
    /// A stranger's set (a client nobody vouches for) that may hold RSA
    /// keys: in the strangers' turn.
    Stranger,
    /// An operator's client's set that may hold RSA keys: in the
    /// operators' turn, which strangers never hold.
    Operator,
}

impl Load {
    /// The load of the key set `member` of the JSON object `body` (the
    /// object itself when `member` is `None`), for a client nobody vouches
    /// for (`open`) or an operator's. It is cheap only when the strict
    /// parser — the one that loads the keys — reads `body` as an object
    /// whose set holds Ed25519 and P-256 keys only, or no set at all.
    pub(crate) fn of(body: &[u8], member: Option<&str>, open: bool) -> Load {
        let costly = match passport_jose::json::parse_object(body, "key set") {
            Ok(object) => match member {
                Some(name) => may_hold_rsa(object.get(name)),
                None => may_hold_rsa(Some(&Value::Object(object))),
            },
            // the loader refuses it before any key; counted costly all
            // the same, so no reading of it can step around the turn
            Err(_) => true,
        };
        match (costly, open) {
            (false, _) => Load::Cheap,
            (true, true) => Load::Stranger,
            (true, false) => Load::Operator,
        }
    }
}

/// Loads of key sets that may hold RSA keys. Loading an RSA key runs a
/// primality test (milliseconds; tens at 4096 bits), and anyone may ask
/// for loads of strangers' sets — a registration's, a metadata document's,
/// a `jwks_uri` set — as often as the rate limits allow, from as many
/// addresses as they have. So such loads run one at a time, on a blocking
/// thread: strangers' loads never take more than one core, and never stall
/// the async runtime's workers (every other request goes on). An
/// operator's client's set loads in a turn of its own, so a flood of
/// strangers' loads never delays it. A load that waits longer than `wait`
/// for its turn is refused ([`ClientMetadataError::KeysBusy`]): a flood
/// from strangers can make other strangers' first loads of RSA sets fail
/// (503), and nothing else.
///
/// Strangers' loads take the turn network by network, at every level an
/// IPv6 network is handed out: a load waits in the line of its address —
/// an IPv4 address alone; for IPv6, its /64, then its /56, then its /48
/// ([`lines_of`]) — and only the front of each line goes on to the next,
/// the front of the outermost to the turn. So a load waits behind at most
/// one load of each other /48 (or IPv4 address), one of each other /56 of
/// its own /48, and one of each other /64 of its own /56, plus the earlier
/// loads of its own /64. One customer — a /64, a /56 or a whole /48 —
/// asking for load after load delays only itself and at most one load's
/// time for each of its neighbours (review S14: one line per /64 let a
/// /56 count as 256 networks; one per /48 made every customer of a shared
/// /48 wait behind one of them). It takes loads from many networks together
/// — each at most eight RSA keys of at most 4096 bits, tenths of a second —
/// to make others wait [`KEY_LOAD_WAIT`]. A set of Ed25519 and P-256 keys
/// only ([`Load::Cheap`]) loads at once.
#[derive(Debug, Clone)]
pub(crate) struct KeyLoads {
    strangers: Arc<tokio::sync::Semaphore>,
    operators: Arc<tokio::sync::Semaphore>,
    /// Each network's line for the strangers' turn, and how many loads are
    /// in it: there while one of them waits or runs.
    lines: Arc<Mutex<Lines>>,
    /// At most this many outermost networks — IPv4 addresses and IPv6 /48s
    /// — with lines ([`MAX_WAITING_NETWORKS`]).
    max_networks: usize,
    wait: Duration,
}

/// How many outermost networks (IPv4 addresses, IPv6 /48s) may have
/// strangers' loads waiting or running at once; a load from one more is
/// refused busy at once. Far more than can wait out [`KEY_LOAD_WAIT`]
/// together (each load takes milliseconds).
const MAX_WAITING_NETWORKS: usize = 4096;

/// How many lines of its /64s one /48 may have at once. Past it, a load
/// from a /64 without a line waits in its /56's line (there is one for
/// each of the /48's 256 /56s that has loads): one /48 cannot use up the
/// lines of everyone (review S14, fourth pass), and a /56 flooding from
/// /64s without lines still waits in its own line (fifth pass: skipping
/// the /56 too put such a flood in the /48's line, ahead of every
/// neighbour).
const MAX_LINES_PER_NETWORK: usize = 64;

/// How many of those /64 lines one /56 may have: a quarter, so one /56
/// (which a provider may share out /64 by /64 among its customers) cannot
/// take them all and leave another /56's flood without its /64 lines
/// (review S14, last read).
const MAX_LINES_PER_SLASH_56: usize = 16;

/// A network: its first address and its prefix length.
type Network = (IpAddr, u8);

/// Each network's line (one place at its front at a time, and how many
/// places are in it); how many /64 lines each /48 has; how many outermost
/// networks have lines.
#[derive(Debug, Default)]
struct Lines {
    lines: HashMap<Network, (Arc<tokio::sync::Semaphore>, usize)>,
    /// How many /64 lines each /48, and each /56, has.
    inner: HashMap<Network, usize>,
    outer: usize,
}

/// A load's places in the strangers' turn, one per line of [`lines_of`],
/// counted in their lines until the load has finished (or its caller
/// stopped waiting); a line goes when nobody is in it.
struct Place {
    lines: Arc<Mutex<Lines>>,
    /// Its outermost network (the last of `slots`).
    outer: Network,
    /// The lines, innermost first, each with its front once reached.
    slots: Vec<(
        Network,
        Arc<tokio::sync::Semaphore>,
        Option<tokio::sync::OwnedSemaphorePermit>,
    )>,
}

impl Drop for Place {
    fn drop(&mut self) {
        // the outermost front first: the next of an outer line goes on
        // before the next of an inner one joins it
        for (_, _, front) in self.slots.iter_mut().rev() {
            drop(front.take());
        }
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let lines = &mut *lines;
        for (network, _, _) in &self.slots {
            let Some((_, count)) = lines.lines.get_mut(network) else {
                continue;
            };
            *count = count.saturating_sub(1);
            if *count > 0 {
                continue;
            }
            lines.lines.remove(network);
            if *network == self.outer {
                lines.outer = lines.outer.saturating_sub(1);
            } else if network.1 == 64 {
                // the /64's /48 and /56 each counted it
                for counted in [self.outer, slash_56(*network)] {
                    if let Some(inner) = lines.inner.get_mut(&counted) {
                        *inner = inner.saturating_sub(1);
                        if *inner == 0 {
                            lines.inner.remove(&counted);
                        }
                    }
                }
            }
        }
    }
}

impl KeyLoads {
    pub(crate) fn new(wait: Duration) -> KeyLoads {
        KeyLoads {
            strangers: Arc::new(tokio::sync::Semaphore::new(1)),
            operators: Arc::new(tokio::sync::Semaphore::new(1)),
            lines: Arc::new(Mutex::new(Lines::default())),
            max_networks: MAX_WAITING_NETWORKS,
            wait,
        }
    }

    /// The strangers' turn, for tests that hold it.
    #[cfg(test)]
    pub(crate) fn strangers(&self) -> &Arc<tokio::sync::Semaphore> {
        &self.strangers
    }

    /// `load()` as `how` says, for a request from `from`. Once it has the
    /// turn, `done()` is asked first: what it gives (a load of the same
    /// set that finished while this one waited) is the answer, and nothing
    /// is loaded — requests that arrive together for one set load it once.
    /// A caller that goes away while its load runs does not end the load
    /// early: the turn (and its address's place) is held until the load has
    /// finished.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        how: Load,
        from: IpAddr,
        done: impl FnOnce() -> Option<T>,
        load: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ClientMetadataError> {
        let (turn, place) = match how {
            Load::Cheap => return Ok(load()),
            Load::Stranger => (&self.strangers, Some(self.place(from)?)),
            Load::Operator => (&self.operators, None),
        };
        let take_turn = async move {
            let place = match place {
                Some(mut place) => {
                    for (_, line, front) in &mut place.slots {
                        *front = Some(
                            Arc::clone(line)
                                .acquire_owned()
                                .await
                                .map_err(|_| ClientMetadataError::KeysBusy)?,
                        );
                    }
                    Some(place)
                }
                None => None,
            };
            let turn = Arc::clone(turn)
                .acquire_owned()
                .await
                .map_err(|_| ClientMetadataError::KeysBusy)?;
            Ok::<_, ClientMetadataError>((turn, place))
        };
        let (turn, place) = tokio::time::timeout(self.wait, take_turn)
            .await
            .map_err(|_| ClientMetadataError::KeysBusy)??;
        if let Some(answer) = done() {
            return Ok(answer);
        }
        tokio::task::spawn_blocking(move || {
            let _held = (turn, place);
            load()
        })
        .await
        .map_err(|_| ClientMetadataError::KeysBusy)
    }

    /// `from`'s places in the lines of its networks, each line made when
    /// there is none: busy when its outermost network has no line and
    /// [`MAX_WAITING_NETWORKS`] others have; a /64 line that would be one
    /// more than [`MAX_LINES_PER_NETWORK`] for its /48 is not made, and the
    /// load waits in its /56's line and its /48's.
    fn place(&self, from: IpAddr) -> Result<Place, ClientMetadataError> {
        let networks = lines_of(from);
        let Some(&outer) = networks.last() else {
            return Err(ClientMetadataError::KeysBusy);
        };
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let lines = &mut *lines;
        if !lines.lines.contains_key(&outer) && lines.outer >= self.max_networks {
            return Err(ClientMetadataError::KeysBusy);
        }
        let mut slots = Vec::with_capacity(networks.len());
        for network in networks {
            if !lines.lines.contains_key(&network) {
                if network == outer {
                    lines.outer += 1;
                } else if network.1 == 64 {
                    let slash_56 = slash_56(network);
                    let full = |n: &Network, max| lines.inner.get(n).is_some_and(|c| *c >= max);
                    if full(&outer, MAX_LINES_PER_NETWORK)
                        || full(&slash_56, MAX_LINES_PER_SLASH_56)
                    {
                        continue;
                    }
                    for counted in [outer, slash_56] {
                        *lines.inner.entry(counted).or_insert(0) += 1;
                    }
                }
            }
            let (line, count) = lines
                .lines
                .entry(network)
                .or_insert_with(|| (Arc::new(tokio::sync::Semaphore::new(1)), 0));
            *count += 1;
            slots.push((network, Arc::clone(line), None));
        }
        Ok(Place {
            lines: Arc::clone(&self.lines),
            outer,
            slots,
        })
    }

    /// How many places the line of `from`'s innermost network holds now,
    /// and how many lines there are (for tests).
    #[cfg(test)]
    pub(crate) fn in_line(&self, from: IpAddr) -> (usize, usize) {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        let inner = lines_of(from)[0];
        (
            lines.lines.get(&inner).map_or(0, |(_, n)| *n),
            lines.lines.len(),
        )
    }

    /// How many places the line of `from`'s network of prefix `len` holds
    /// now (for tests).
    #[cfg(test)]
    pub(crate) fn in_network(&self, from: IpAddr, len: u8) -> usize {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines_of(from)
            .into_iter()
            .find(|(_, l)| *l == len)
            .and_then(|network| lines.lines.get(&network).map(|(_, n)| *n))
            .unwrap_or(0)
    }
}

/// The /56 of the /64 `network`.
fn slash_56(network: Network) -> Network {
    match network.0 {
        IpAddr::V6(v6) => {
            let mask = u128::MAX << (128 - 56);
            (IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask)), 56)
        }
        v4 => (v4, 56),
    }
}

/// The networks whose lines a stranger's load from `from` waits in,
/// innermost first: an IPv4 address (or an IPv4-mapped IPv6 one) alone; an
/// IPv6 address's /64, /56 and /48 — what one host, one customer and one
/// site are commonly handed (review S14).
fn lines_of(from: IpAddr) -> Vec<Network> {
    match crate::rate_limit::address_key(from) {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            [64u8, 56, 48]
                .into_iter()
                .map(|len| {
                    let mask = u128::MAX << (128 - u32::from(len));
                    (IpAddr::V6(Ipv6Addr::from(bits & mask)), len)
                })
                .collect()
        }
        v4 => vec![(v4, 32)],
    }
}

/// Whether loading the JWKS `jwks` may cost primality tests: unless it is
/// a `keys` array of Ed25519 (`OKP`) and P-256 (`EC`) keys only, it may
/// (anything else, RSA or unusual, counts as costly: the loader decides
/// what it is, this only decides where it runs). No JWKS costs nothing.
fn may_hold_rsa(jwks: Option<&Value>) -> bool {
    let Some(jwks) = jwks else {
        return false;
    };
    let cheap = |key: &Value| matches!(key.get("kty").and_then(Value::as_str), Some("OKP" | "EC"));
    !jwks
        .get("keys")
        .and_then(Value::as_array)
        .is_some_and(|keys| keys.iter().all(cheap))
}

/// Keeps `doc` as `key`'s document until `expires`, in a cache of at most
/// `capacity` documents: when full, the expired go first, then the one that
/// expires soonest.
fn remember(
    cache: &Mutex<HashMap<String, CacheEntry>>,
    capacity: usize,
    key: String,
    doc: Arc<ClientMetadataDocument>,
    expires: i64,
    now: i64,
) {
    let mut cache = cache.lock().unwrap_or_else(PoisonError::into_inner);
    if cache.len() >= capacity && !cache.contains_key(&key) {
        cache.retain(|_, (_, e)| *e > now);
        if cache.len() >= capacity
            && let Some(soonest) = cache
                .iter()
                .min_by_key(|(_, (_, e))| *e)
                .map(|(k, _)| k.clone())
        {
            cache.remove(&soonest);
        }
    }
    if capacity > 0 {
        cache.insert(key, (doc, expires));
    }
}

/// Loads a key set fetched from a `jwks_uri`: under a client's bounds when
/// `open` (a client nobody vouches for), else a trusted set's (an
/// operator's client). Costly for RSA keys: callers run it in the
/// [`KeyLoads`] turn [`Load::of`] names.
pub(crate) fn load_jwks(body: &[u8], open: bool) -> Result<JwkSet, ClientMetadataError> {
    let keys = match open {
        true => JwkSet::from_client_json(body),
        false => JwkSet::from_json(body),
    }
    .map_err(|e| ClientMetadataError::AuthMethod(format!("jwks_uri: {e}")))?;
    if keys.is_empty() {
        return Err(ClientMetadataError::AuthMethod(
            "jwks_uri has no usable key".into(),
        ));
    }
    Ok(keys)
}

/// Resolves a host name to addresses. Injected so tests never send traffic
/// to a private range and deployments may use their own resolver.
pub trait Resolver: Send + Sync {
    /// The addresses of `host`.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The system resolver (`getaddrinfo` through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host, 443)).await?;
            Ok(addrs.map(|a| a.ip()).collect())
        })
    }
}

/// Whether `ip` is a public unicast address a metadata fetch may connect to.
///
/// IPv4: everything but `0.0.0.0/8`, `10/8`, `100.64/10` (CGNAT), `127/8`,
/// `169.254/16`, `172.16/12`, `192.0.0/24`, `192.0.2/24`, `192.88.99/24`,
/// `192.168/16`, `198.18/15`, `198.51.100/24`, `203.0.113/24`, `224/4`
/// (multicast) and `240/4` (reserved, with the broadcast address).
/// IPv6: only global unicast `2000::/3`, minus documentation (`2001:db8::/32`,
/// `3fff::/20`), Teredo and the IETF block `2001::/23`; and an IPv4 address
/// carried in IPv6 (mapped `::ffff:0:0/96`, NAT64 `64:ff9b::/96`, 6to4
/// `2002::/16`) counts as that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b))
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 192 && b == 88 && c == 99)
        || (a == 192 && b == 168)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return is_public_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    if s[0] == 0x2002 {
        let o = ip.octets();
        return is_public_v4(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let documentation = (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] & 0xfff0) == 0x3ff0;
    let ietf_block = s[0] == 0x2001 && s[1] < 0x0200; // 2001::/23, Teredo 2001::/32 in it
    global_unicast && !documentation && !ietf_block
}

/// Whether `name` may be shown as a client's name on the consent page: no
/// control character (C0, C1), and none of the invisible or
/// direction-changing characters that make text render as something else
/// (bidirectional embeddings, overrides and isolates, zero-width
/// characters, line and paragraph separators, the byte order mark, soft
/// hyphen and interlinear annotations). A right-to-left override in a name
/// would show the rest of the line — the client id, the resource —
/// reversed. Letters of every script stay allowed.
pub(crate) fn displayable_name(name: &str) -> bool {
    !name.chars().any(|c| {
        c.is_control()
            || matches!(
                c,
                '\u{00AD}'
                    | '\u{061C}'
                    | '\u{180E}'
                    | '\u{200B}'..='\u{200F}'
                    | '\u{2028}'..='\u{202E}'
                    | '\u{2060}'..='\u{206F}'
                    | '\u{FEFF}'
                    | '\u{FFF9}'..='\u{FFFB}'
            )
    })
}

/// A validated metadata document URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdUrl(Url);

impl ClientIdUrl {
    /// Validates `client_id` as a metadata document URL. `loopback_http`
    /// (test mode only) also accepts `http`, which
    /// [`ClientMetadataFetcher::fetch`] then connects to only when every
    /// address of the host is loopback.
    pub fn parse(client_id: &str, loopback_http: bool) -> Result<ClientIdUrl, ClientMetadataError> {
        use ClientMetadataError::InvalidUrl as I;
        if client_id.len() > crate::client_auth::MAX_CLIENT_ID_LEN {
            return Err(I("too long"));
        }
        let url = Url::parse(client_id).map_err(|_| I("not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            // test mode: the fetch then requires every address to be loopback
            "http" if loopback_http => {}
            _ => return Err(I("not https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(I("credentials in the URL"));
        }
        if url.fragment().is_some() || client_id.contains('#') {
            return Err(I("fragment"));
        }
        if url.host().is_none() {
            return Err(I("no host"));
        }
        if url.path() == "/" || url.path().is_empty() {
            return Err(I("no path"));
        }
        if client_id.split(['?']).next().is_some_and(|p| {
            p.split('/').any(|seg| {
                seg == "."
                    || seg == ".."
                    || seg.eq_ignore_ascii_case("%2e")
                    || seg.eq_ignore_ascii_case("%2e%2e")
            })
        }) {
            return Err(I("dot segment in the path"));
        }
        // The document must name itself exactly; a URL whose parsed form
        // differs (case, default port, escapes) would never match.
        if url.as_str() != client_id {
            return Err(I("not in canonical form"));
        }
        Ok(ClientIdUrl(url))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// How the client's authentication method is constrained by a metadata
/// document.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum DocumentAuth {
    /// `none`: a public client (PKCE).
    None,
    /// `private_key_jwt` with the document's own `jwks`.
    Jwks(JwkSet),
    /// `private_key_jwt` with keys to fetch from `jwks_uri`.
    JwksUri(String),
}

/// A client metadata document that passed every check.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientMetadataDocument {
    /// The `client_id` (= the URL).
    pub client_id: String,
    /// `redirect_uris`, each valid.
    pub redirect_uris: Vec<String>,
    /// `client_name`, if any (shown on the consent page).
    pub client_name: Option<String>,
    /// The authentication method and its keys.
    pub auth: DocumentAuth,
    /// `scope`, if the document names the scopes it asks for.
    pub scope: Option<String>,
    /// `grant_types`, if the document names the grant types it uses (RFC
    /// 7591 §2): the client is given no other.
    pub grant_types: Option<Vec<String>>,
}

impl ClientMetadataDocument {
    /// Parses and checks a document fetched from `url`.
    pub fn from_json(
        body: &[u8],
        url: &ClientIdUrl,
    ) -> Result<ClientMetadataDocument, ClientMetadataError> {
        let invalid = |e: String| ClientMetadataError::InvalidDocument(e);
        let doc: Map<String, Value> = passport_jose::json::parse_object(body, "client metadata")
            .map_err(|e| invalid(e.to_string()))?;
        let string = |name: &str| -> Result<Option<String>, ClientMetadataError> {
            match doc.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid(format!("{name} is not a string"))),
            }
        };
        if string("client_id")?.as_deref() != Some(url.as_str()) {
            return Err(ClientMetadataError::ClientIdMismatch);
        }
        if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
            return Err(ClientMetadataError::SecretPresent);
        }
        let redirect_uris = match doc.get("redirect_uris") {
            Some(Value::Array(list)) if !list.is_empty() && list.len() <= 16 => list
                .iter()
                .map(|v| {
                    let s = v
                        .as_str()
                        .ok_or_else(|| ClientMetadataError::RedirectUris("not a string".into()))?;
                    crate::authorize::check_redirect_uri(s)
                        .map_err(|e| ClientMetadataError::RedirectUris(e.to_owned()))?;
                    Ok(s.to_owned())
                })
                .collect::<Result<Vec<_>, ClientMetadataError>>()?,
            Some(Value::Array(list)) if !list.is_empty() => {
                return Err(ClientMetadataError::RedirectUris("more than 16".into()));
            }
            _ => return Err(ClientMetadataError::RedirectUris("missing or empty".into())),
        };
        let grant_types = match doc.get("grant_types") {
            None => None,
            Some(Value::Array(list)) => Some(
                list.iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| invalid("grant_types holds a non-string".into()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Some(_) => return Err(invalid("grant_types is not an array".into())),
        };
        let client_name = string("client_name")?;
        if client_name.as_deref().is_some_and(|n| !displayable_name(n)) {
            return Err(invalid(
                "client_name holds a control, invisible or direction-changing character".into(),
            ));
        }
        let scope = string("scope")?;
        // The keys last: loading an RSA key costs a primality test, so a
        // document that fails a cheap check above never costs one.
        let method = string("token_endpoint_auth_method")?.unwrap_or_else(|| "none".to_owned());
        let auth = match method.as_str() {
            "none" => DocumentAuth::None,
            "private_key_jwt" => match (doc.get("jwks"), string("jwks_uri")?) {
                (Some(_), Some(_)) => {
                    return Err(ClientMetadataError::AuthMethod(
                        "both jwks and jwks_uri".into(),
                    ));
                }
                (Some(jwks), None) => {
                    let bytes = serde_json::to_vec(jwks).map_err(|e| invalid(e.to_string()))?;
                    let keys = JwkSet::from_client_json(&bytes)
                        .map_err(|e| ClientMetadataError::AuthMethod(format!("jwks: {e}")))?;
                    if keys.is_empty() {
                        return Err(ClientMetadataError::AuthMethod(
                            "jwks has no usable key".into(),
                        ));
                    }
                    DocumentAuth::Jwks(keys)
                }
                (None, Some(uri)) => {
                    let parsed = Url::parse(&uri).map_err(|_| {
                        ClientMetadataError::AuthMethod("jwks_uri is not a URL".into())
                    })?;
                    if parsed.scheme() != "https" {
                        return Err(ClientMetadataError::AuthMethod(
                            "jwks_uri is not https".into(),
                        ));
                    }
                    DocumentAuth::JwksUri(uri)
                }
                (None, None) => {
                    return Err(ClientMetadataError::AuthMethod(
                        "private_key_jwt without jwks or jwks_uri".into(),
                    ));
                }
            },
            other => {
                return Err(ClientMetadataError::AuthMethod(passport_jose::clip(
                    other, 40,
                )));
            }
        };
        Ok(ClientMetadataDocument {
            client_id: url.as_str().to_owned(),
            redirect_uris,
            client_name: client_name.map(|n| passport_jose::clip(&n, 100)),
            auth,
            scope,
            grant_types,
        })
    }
}

/// The bounds of a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchPolicy {
    /// The largest document accepted, in bytes (default 5 KiB, the draft's
    /// suggestion).
    pub max_bytes: usize,
    /// The time allowed for resolving, connecting and reading together
    /// (default 5 s).
    pub timeout: Duration,
    /// The shortest time a document is cached (default 1 minute), even when
    /// the response says `no-store`: that bounds how often a client can make
    /// the server fetch.
    pub min_ttl: Duration,
    /// The longest (default 24 hours).
    pub max_ttl: Duration,
    /// Without caching headers (default 1 hour).
    pub default_ttl: Duration,
    /// The most documents cached (default 1024).
    pub cache_capacity: usize,
}

impl Default for FetchPolicy {
    fn default() -> FetchPolicy {
        FetchPolicy {
            max_bytes: 5 * 1024,
            timeout: Duration::from_secs(5),
            min_ttl: Duration::from_secs(60),
            max_ttl: Duration::from_secs(24 * 3600),
            default_ttl: Duration::from_secs(3600),
            cache_capacity: 1024,
        }
    }
}

type CacheEntry = (Arc<ClientMetadataDocument>, i64);

/// Fetches, checks and caches client metadata documents.
///
/// ```no_run
/// # async fn run() -> Result<(), passport_server::client_metadata::ClientMetadataError> {
/// use std::net::{IpAddr, Ipv4Addr};
/// use std::sync::Arc;
/// use passport_claims::SystemClock;
/// use passport_server::client_metadata::{ClientMetadataFetcher, SystemResolver};
///
/// let fetcher = ClientMetadataFetcher::new(Arc::new(SystemResolver), Arc::new(SystemClock));
/// // the address of the request that names the client
/// let from = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));
/// let doc = fetcher.fetch("https://app.example/oauth/client.json", from).await?;
/// println!("{:?} redirects to {:?}", doc.client_name, doc.redirect_uris);
/// # Ok(()) }
/// ```
pub struct ClientMetadataFetcher {
    resolver: Arc<dyn Resolver>,
    clock: Arc<dyn Clock>,
    policy: FetchPolicy,
    test_mode: bool,
    cache: Arc<Mutex<HashMap<String, CacheEntry>>>,
    key_loads: KeyLoads,
}

impl std::fmt::Debug for ClientMetadataFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientMetadataFetcher")
            .field("policy", &self.policy)
            .field("test_mode", &self.test_mode)
            .finish_non_exhaustive()
    }
}

impl ClientMetadataFetcher {
    /// A fetcher with the default [`FetchPolicy`].
    pub fn new(resolver: Arc<dyn Resolver>, clock: Arc<dyn Clock>) -> ClientMetadataFetcher {
        ClientMetadataFetcher {
            resolver,
            clock,
            policy: FetchPolicy::default(),
            test_mode: false,
            cache: Arc::new(Mutex::new(HashMap::new())),
            key_loads: KeyLoads::new(KEY_LOAD_WAIT),
        }
    }

    /// The turns of key loads (strangers' and operators'), which the
    /// server's other key loads (registration, registered sets) share.
    pub(crate) fn key_loads(&self) -> &KeyLoads {
        &self.key_loads
    }

    /// Replaces the policy.
    pub fn with_policy(mut self, policy: FetchPolicy) -> ClientMetadataFetcher {
        self.policy = policy;
        self
    }

    /// **Test mode**: also accepts `http` URLs whose host is loopback, and
    /// loopback addresses (only those: private ranges stay refused). For
    /// tests and local demos; never for a server reachable by others.
    pub fn dangerous_test_mode(mut self) -> ClientMetadataFetcher {
        self.test_mode = true;
        self
    }

    /// The checked document of `client_id`, from the cache or fetched, for
    /// a request from `from` (its keys, if they may cost primality tests,
    /// load in that address's line: see [`KEY_LOAD_WAIT`]).
    pub async fn fetch(
        &self,
        client_id: &str,
        from: IpAddr,
    ) -> Result<Arc<ClientMetadataDocument>, ClientMetadataError> {
        let url = ClientIdUrl::parse(client_id, self.test_mode)?;
        let now = self.clock.now();
        if let Some((doc, expires)) = self.lock().get(client_id)
            && *expires > now
        {
            return Ok(Arc::clone(doc));
        }
        let (body, headers) = tokio::time::timeout(self.policy.timeout, self.fetch_pinned(&url))
            .await
            .map_err(|_| ClientMetadataError::Timeout)??;
        let p = &self.policy;
        let ttl = CacheLifetime::from_headers(&headers).ttl(p.min_ttl, p.max_ttl, p.default_ttl);
        let expires = now.saturating_add(i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX));
        // a document loaded meanwhile by a request for the same client is
        // taken as it is, not loaded again
        let cached = || {
            self.lock()
                .get(client_id)
                .filter(|(_, expires)| *expires > now)
                .map(|(doc, _)| Ok(Arc::clone(doc)))
        };
        // kept as soon as it is loaded, whoever asked: a caller that went
        // away meanwhile does not make the next request load it again
        let (kept, capacity, key) = (
            Arc::clone(&self.cache),
            self.policy.cache_capacity,
            client_id.to_owned(),
        );
        self.key_loads
            .run(
                Load::of(&body, Some("jwks"), true),
                from,
                cached,
                move || {
                    let doc = Arc::new(ClientMetadataDocument::from_json(&body, &url)?);
                    remember(&kept, capacity, key, Arc::clone(&doc), expires, now);
                    Ok(doc)
                },
            )
            .await?
    }

    /// The keys at a document's `jwks_uri` (for [`DocumentAuth::JwksUri`]),
    /// fetched under the same rules as the document: https with a path,
    /// public addresses only, pinned connection, no redirect, the size cap
    /// and the timeout; loaded under a client's bounds
    /// ([`JwkSet::from_client_json`]). Not cached here: the caller keeps
    /// the keys with the document.
    pub async fn fetch_jwks(
        &self,
        jwks_uri: &str,
        from: IpAddr,
    ) -> Result<JwkSet, ClientMetadataError> {
        let body = self.fetch_jwks_body(jwks_uri).await?;
        self.key_loads
            .run(
                Load::of(&body, None, true),
                from,
                || None,
                move || load_jwks(&body, true),
            )
            .await?
    }

    /// The body at a `jwks_uri`, fetched as [`ClientMetadataFetcher::fetch_jwks`]
    /// fetches it; [`load_jwks`] loads it.
    pub(crate) async fn fetch_jwks_body(
        &self,
        jwks_uri: &str,
    ) -> Result<Vec<u8>, ClientMetadataError> {
        let url = ClientIdUrl::parse(jwks_uri, self.test_mode)?;
        let (body, _) = tokio::time::timeout(self.policy.timeout, self.fetch_pinned(&url))
            .await
            .map_err(|_| ClientMetadataError::Timeout)??;
        Ok(body)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, CacheEntry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Resolves once, checks every address, then fetches with the HTTP
    /// client pinned to the first checked address.
    async fn fetch_pinned(
        &self,
        url: &ClientIdUrl,
    ) -> Result<(Vec<u8>, reqwest::header::HeaderMap), ClientMetadataError> {
        let http = url.0.scheme() == "http";
        let allowed = |ip: IpAddr| {
            if http {
                self.test_mode && ip.is_loopback()
            } else {
                is_public(ip) || (self.test_mode && ip.is_loopback())
            }
        };
        let port = url.0.port_or_known_default().unwrap_or(443);
        let mut builder = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(self.policy.timeout)
            .connect_timeout(self.policy.timeout)
            .https_only(!self.test_mode);
        match url.0.host() {
            Some(Host::Domain(name)) => {
                let addrs = self
                    .resolver
                    .resolve(name)
                    .await
                    .map_err(|e| ClientMetadataError::Resolve(e.to_string()))?;
                if addrs.is_empty() {
                    return Err(ClientMetadataError::Resolve("no address".into()));
                }
                if let Some(bad) = addrs.iter().copied().find(|ip| !allowed(*ip)) {
                    return Err(ClientMetadataError::ForbiddenAddress(bad));
                }
                builder = builder.resolve_to_addrs(name, &[SocketAddr::new(addrs[0], port)]);
            }
            Some(Host::Ipv4(ip)) if !allowed(IpAddr::V4(ip)) => {
                return Err(ClientMetadataError::ForbiddenAddress(IpAddr::V4(ip)));
            }
            Some(Host::Ipv6(ip)) if !allowed(IpAddr::V6(ip)) => {
                return Err(ClientMetadataError::ForbiddenAddress(IpAddr::V6(ip)));
            }
            _ => {}
        }
        let client = builder
            .build()
            .map_err(|e| RemoteError::Config(format!("HTTP client: {e}")))?;
        Ok(passport_remote::get_bounded(&client, url.as_str(), self.policy.max_bytes).await?)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    /// The address of the requests in these tests.
    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7));

    /// Only a set of Ed25519 and P-256 keys is cheap; RSA, an unknown or
    /// oddly spelled `kty`, a key without one, or something that is not a
    /// key set at all goes through a turn — the strangers' for an open
    /// client, the operators' otherwise; no set at all is cheap.
    #[test]
    fn a_key_set_is_cheap_only_when_every_key_is_ed25519_or_p256() {
        let load = |jwks: &Value, open: bool| {
            Load::of(
                json!({ "jwks": jwks }).to_string().as_bytes(),
                Some("jwks"),
                open,
            )
        };
        let cheap = [
            json!({"keys": []}),
            json!({"keys": [{"kty": "OKP"}, {"kty": "EC"}]}),
        ];
        for jwks in &cheap {
            assert_eq!(load(jwks, true), Load::Cheap, "{jwks}");
            let alone = Load::of(jwks.to_string().as_bytes(), None, false);
            assert_eq!(alone, Load::Cheap, "{jwks}");
        }
        assert_eq!(Load::of(b"{}", Some("jwks"), true), Load::Cheap);
        let costly = [
            json!({"keys": [{"kty": "OKP"}, {"kty": "RSA"}]}),
            json!({"keys": [{"kty": "rsa"}]}),
            json!({"keys": [{"kty": "oct"}]}),
            json!({"keys": [{"n": "AQAB"}]}),
            json!({"keys": [{"kty": ["OKP"]}]}),
            json!({"keys": ["OKP"]}),
            json!({"keys": {"kty": "OKP"}}),
            json!({"kty": "OKP"}),
            json!("keys"),
        ];
        for jwks in &costly {
            assert_eq!(load(jwks, true), Load::Stranger, "{jwks}");
            assert_eq!(load(jwks, false), Load::Operator, "{jwks}");
        }
        // what the strict parser refuses counts as costly too
        assert_eq!(Load::of(b"not json", Some("jwks"), true), Load::Stranger);
    }

    /// Review S13, third pass, finding 1: which turn a set takes is read
    /// by the strict parser, the one that loads the keys. With serde_json's
    /// `raw_value` feature (on in this build), an object holding the member
    /// `$serde_json::private::RawValue` is not a `serde_json::Value`, so a
    /// reading through `Value` took an RSA set for no set at all, and its
    /// keys loaded at once on a runtime worker, outside the turn.
    #[test]
    fn a_raw_value_member_does_not_make_an_rsa_set_cheap() {
        let body = json!({
            "keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}],
            "x": { "$serde_json::private::RawValue": 0 },
        })
        .to_string();
        // the strict parser takes it (and would load the key); whether a
        // `serde_json::Value` does depends on serde_json's features
        assert!(passport_jose::json::parse_object(body.as_bytes(), "jwks").is_ok());
        assert_eq!(Load::of(body.as_bytes(), None, true), Load::Stranger);
        let registration = format!(
            r#"{{"software_id": {{"$serde_json::private::RawValue": 0}}, "jwks": {body}}}"#
        );
        let how = Load::of(registration.as_bytes(), Some("jwks"), true);
        assert_eq!(how, Load::Stranger);
    }

    /// Costly loads run one at a time in their turn, each on a thread other
    /// than the caller's (a blocking thread, not a runtime worker); a cheap
    /// one runs at once on the caller's thread, even while a costly one
    /// holds the turn; an operator's load has a turn of its own; a costly
    /// one that waits past its bound is refused; one that finds its answer
    /// ready when it gets the turn does not load.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn costly_key_loads_take_turns_off_the_runtime_and_give_up_after_their_wait() {
        let loads = KeyLoads::new(Duration::from_secs(30));
        let (running, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (loads, running, most) = (loads.clone(), running.clone(), most.clone());
            tasks.spawn(async move {
                let caller = std::thread::current().id();
                let ran_on = loads
                    .run(
                        Load::Stranger,
                        PEER,
                        || None,
                        move || {
                            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(20));
                            running.fetch_sub(1, Ordering::SeqCst);
                            std::thread::current().id()
                        },
                    )
                    .await
                    .unwrap();
                assert_ne!(ran_on, caller);
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(most.load(Ordering::SeqCst), 1);

        // the strangers' turn held (a load in progress): a cheap load runs
        // at once, here; an operator's in its own turn; a stranger's gives
        // up after its wait
        let loads = KeyLoads::new(Duration::from_millis(50));
        let held = Arc::clone(&loads.strangers).acquire_owned().await.unwrap();
        let caller = std::thread::current().id();
        let cheap = loads.run(Load::Cheap, PEER, || None, || std::thread::current().id());
        assert_eq!(cheap.await.unwrap(), caller);
        assert_eq!(
            loads
                .run(Load::Operator, PEER, || None, || 3)
                .await
                .unwrap(),
            3
        );
        let refused = loads
            .run(Load::Stranger, PEER, || None, || ())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), "client_keys_busy");
        let answer = refused.oauth();
        assert_eq!(answer.status, 503);
        drop(held);
        assert_eq!(
            loads
                .run(Load::Stranger, PEER, || None, || 7)
                .await
                .unwrap(),
            7
        );
        // an answer ready once the turn is had: nothing is loaded
        let ready = loads.run(Load::Stranger, PEER, || Some(1), || panic!("loaded"));
        assert_eq!(ready.await.unwrap(), 1);
    }

    /// Strangers' loads take the turn address by address: while one load
    /// of address A runs and five more of A wait, a load of address B runs
    /// next — not after A's five (one FIFO turn made it wait behind every
    /// load one address queued, so one address could keep others waiting
    /// past [`KEY_LOAD_WAIT`]). An IPv6 address counts by its /48. A line
    /// goes once nobody is in it: its loads finished, or their callers
    /// stopped waiting. Past the bound on lines, a new address is busy at
    /// once.
    #[tokio::test(flavor = "current_thread")]
    async fn strangers_loads_take_the_turn_address_by_address() {
        let a = IpAddr::V6("2001:db8:0:1::1".parse().unwrap());
        let a_too = IpAddr::V6("2001:db8:0:1::2".parse().unwrap());
        let b = PEER;
        let loads = KeyLoads::new(Duration::from_secs(30));
        let order = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let released = Arc::new(Mutex::new(released));
        let run = |from: IpAddr, label: &'static str, first: bool| {
            let (loads, order, released) =
                (loads.clone(), Arc::clone(&order), Arc::clone(&released));
            tokio::spawn(async move {
                loads
                    .run(
                        Load::Stranger,
                        from,
                        || None,
                        move || {
                            if first {
                                released.lock().unwrap().recv().unwrap();
                            }
                            order.lock().unwrap().push(label);
                        },
                    )
                    .await
                    .unwrap();
            })
        };
        // until `n` places are in `from`'s line (each task is placed, and
        // waiting, once it has been polled)
        let placed = |from: IpAddr, n: usize| {
            let loads = loads.clone();
            async move {
                while loads.in_line(from).0 < n {
                    tokio::task::yield_now().await;
                }
            }
        };
        let mut tasks = vec![run(a, "A", true)];
        placed(a, 1).await;
        for i in 0..5 {
            tasks.push(run(if i % 2 == 0 { a } else { a_too }, "A", false));
        }
        placed(a, 6).await;
        tasks.push(run(b, "B", false));
        placed(b, 1).await;
        // B is placed and waits for the turn; let A's first load finish
        tokio::task::yield_now().await;
        release.send(()).unwrap();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["A", "B", "A", "A", "A", "A", "A"],
            "B waited behind more than one load of A"
        );
        assert_eq!(loads.in_line(a), (0, 0), "a line nobody is in was kept");

        // a caller that stops waiting leaves its line
        let held = Arc::clone(&loads.strangers).acquire_owned().await.unwrap();
        {
            let waiting = loads.run(Load::Stranger, b, || None, || ());
            tokio::pin!(waiting);
            assert!(futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none());
            assert_eq!(loads.in_line(b), (1, 1));
        }
        assert_eq!(loads.in_line(b), (0, 0));

        // past the bound on networks, a new one is busy at once; an address
        // of a network that has its lines joins them
        let mut loads = KeyLoads::new(Duration::from_secs(30));
        loads.max_networks = 1;
        drop(held);
        let held = Arc::clone(&loads.strangers).acquire_owned().await.unwrap();
        let waiting = loads.run(Load::Stranger, a, || None, || ());
        tokio::pin!(waiting);
        assert!(futures_util::FutureExt::now_or_never(waiting.as_mut()).is_none());
        let refused = loads.run(Load::Stranger, b, || None, || ()).await;
        assert_eq!(refused.unwrap_err().code(), "client_keys_busy");
        let same = loads.run(Load::Stranger, a_too, || None, || ());
        tokio::pin!(same);
        assert!(futures_util::FutureExt::now_or_never(same.as_mut()).is_none());
        assert_eq!(loads.in_line(a), (2, 3));
        drop(held);
        waiting.await.unwrap();
        same.await.unwrap();
        assert_eq!(loads.in_line(a), (0, 0));
    }

    /// Review S14, second pass: lines were per IPv6 /64, but one customer
    /// is commonly delegated a /56 (256 /64s) or a /48 (65 536). Each of
    /// its /64s had a line of its own, so a single attacker's /56 put a load
    /// in front of every other stranger's first RSA load, and the victim
    /// (another address, asking once) was refused busy. Now the /64s of a
    /// /56 wait in its line. Here 64 /64s of one /56, loads of 20 ms, a
    /// wait of 500 ms.
    #[tokio::test(flavor = "current_thread")]
    async fn one_ipv6_slash_56_waits_in_one_line() {
        let loads = KeyLoads::new(Duration::from_millis(500));
        let mut tasks = Vec::new();
        for i in 0..64u16 {
            let from = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, i, 0, 0, 0, 1));
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                let _ = loads
                    .run(
                        Load::Stranger,
                        from,
                        || None,
                        || std::thread::sleep(Duration::from_millis(20)),
                    )
                    .await;
            }));
        }
        let attacker = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0xff, 0, 0, 0, 9));
        while loads.in_network(attacker, 56) < 64 {
            tokio::task::yield_now().await;
        }
        // the /48's line, its /56's and MAX_LINES_PER_SLASH_56 of its /64s'
        assert_eq!(loads.in_line(attacker).1, 2 + MAX_LINES_PER_SLASH_56);
        let victim = loads.run(Load::Stranger, PEER, || None, || ()).await;
        assert!(
            victim.is_ok(),
            "one /56 (64 of its /64s) kept another stranger's single load waiting past the limit"
        );
        for task in tasks {
            task.await.unwrap();
        }
    }

    /// Review S14 v3: a /48 is one line, so a neighbour in the attacker's
    /// /48 -- another subscriber of a mobile carrier or ISP that hands each
    /// customer a /64 or /56 out of one /48 -- queues behind every load the
    /// attacker has placed (one line is FIFO: only its front waits for the
    /// turn). The docs say "one address or site asking for load after load
    /// delays only itself". Here the attacker asks from one /64 only (one
    /// subscriber), 64 loads of 20 ms, a wait of 500 ms; the neighbour asks
    /// once, from a different /56 of the same /48.
    #[tokio::test(flavor = "current_thread")]
    async fn a_neighbour_in_the_attackers_slash_48_waits_behind_one_of_its_loads() {
        let loads = KeyLoads::new(Duration::from_millis(500));
        let attacker = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x0100, 0, 0, 0, 9));
        let mut tasks = Vec::new();
        for _ in 0..64 {
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                let _ = loads
                    .run(
                        Load::Stranger,
                        attacker,
                        || None,
                        || std::thread::sleep(Duration::from_millis(20)),
                    )
                    .await;
            }));
        }
        while loads.in_line(attacker).0 < 64 {
            tokio::task::yield_now().await;
        }
        let neighbour = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0xfe00, 0, 0, 0, 1));
        let victim = loads.run(Load::Stranger, neighbour, || None, || ()).await;
        for task in tasks {
            task.await.unwrap();
        }
        assert!(
            victim.is_ok(),
            "one subscriber's /64 kept a different customer's single load (same /48, \
             another /56) waiting past the limit: {:?}",
            victim.err().map(|e| e.code())
        );
    }

    /// The same through the fetcher: with the strangers' turn held, a
    /// `jwks_uri` set of RSA keys that carries the `RawValue` member waits
    /// for the turn (and is refused busy), rather than loading at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_jwks_uri_set_with_a_raw_value_member_waits_for_the_turn() {
        use passport_jose::{Algorithm, SigningKey};
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        struct Loopback;
        impl Resolver for Loopback {
            fn resolve<'a>(
                &'a self,
                _host: &'a str,
            ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send + 'a>>
            {
                Box::pin(async { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) })
            }
        }
        let rsa = SigningKey::generate(Algorithm::RS256).unwrap();
        let body = json!({
            "keys": [Value::Object(rsa.verifying_key().jwk().clone())],
            "x": { "$serde_json::private::RawValue": 0 },
        })
        .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    let _ = conn.read(&mut buf).await;
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = conn.write_all(answer.as_bytes()).await;
                });
            }
        });
        let mut fetcher =
            ClientMetadataFetcher::new(Arc::new(Loopback), Arc::new(passport_claims::SystemClock))
                .dangerous_test_mode();
        fetcher.key_loads = KeyLoads::new(Duration::from_millis(200));
        let held = Arc::clone(&fetcher.key_loads.strangers)
            .acquire_owned()
            .await
            .unwrap();
        let uri = format!("{base}/jwks");
        match fetcher.fetch_jwks(&uri, PEER).await {
            Err(ClientMetadataError::KeysBusy) => {}
            Ok(keys) => panic!("an RSA set of {} key loaded outside the turn", keys.len()),
            Err(e) => panic!("unexpected: {e}"),
        }
        // once the turn is free, it loads
        drop(held);
        assert_eq!(fetcher.fetch_jwks(&uri, PEER).await.unwrap().len(), 1);
    }

    /// Review S14, fourth pass: the lines are nested per /64, /56 and /48,
    /// and the bound on lines was one for everyone: one customer's /48 —
    /// 65,536 /64s, each a rate-limit bucket of its own — holding a load
    /// waiting from 4,079 of its /64s made 4,096 lines, and every other
    /// network's first RSA load was refused busy at once. Now the bound
    /// counts outermost networks, and one /48 has at most
    /// [`MAX_LINES_PER_NETWORK`] inner lines: its further loads wait in the
    /// lines it has.
    #[test]
    fn one_slash_48_cannot_fill_every_line() {
        let loads = KeyLoads::new(Duration::from_secs(30));
        let mut held = Vec::new();
        'fill: for s56 in 0..256u16 {
            for s64 in 0..256u16 {
                let from = IpAddr::V6(Ipv6Addr::new(
                    0x2001,
                    0xdb8,
                    1,
                    (s56 << 8) | s64,
                    0,
                    0,
                    0,
                    1,
                ));
                match loads.place(from) {
                    Ok(place) => held.push(place),
                    Err(_) => break 'fill,
                }
            }
        }
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        assert!(
            loads.place(other).is_ok(),
            "one /48 ({} of its /64s waiting) took every line: another network is refused busy",
            held.len()
        );
        assert_eq!(held.len(), 65_536, "a load of the /48 was refused");
        let any = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1));
        // the /48's line, its 256 /56s' and MAX_LINES_PER_NETWORK /64s'
        assert_eq!(loads.in_line(any).1, 1 + 256 + MAX_LINES_PER_NETWORK);
        drop(held);
        assert_eq!(loads.in_line(any).1, 0);
        let lines = loads.lines.lock().unwrap();
        assert!(lines.inner.is_empty() && lines.outer == 0, "{lines:?}");
    }

    /// Review S14, fifth pass (on c4872569): past
    /// [`MAX_LINES_PER_NETWORK`], a load whose /64 and /56 got no line had
    /// a place in its /48's line only, and every such load is a place of
    /// its own there: they do not queue behind each other first. An
    /// attacker holding the 64 inner lines of a shared /48 (63 /64s of its
    /// /56, and the /56) and one more address in another /56 of that /48
    /// puts its whole flood straight into the /48's FIFO line, and a
    /// neighbour (a third /56) waits behind all of it -- the third pass's
    /// finding ("one line per /48 made every customer of a shared /48 wait
    /// behind one of them") again, though the docs say a load waits behind
    /// at most one load of each other /56 of its /48. Now only /64 lines
    /// are capped: the flood waits in its /56's line. Loads of 20 ms, a
    /// wait of 500 ms, a flood of 40.
    #[tokio::test(flavor = "current_thread")]
    async fn past_the_slash_64_line_cap_a_flood_still_waits_in_its_slash_56s_line() {
        flood_from_another_slash_56(true).await;
    }

    /// The control: the same flood with the inner lines free waits in its
    /// own /64's and /56's lines, and the neighbour gets its turn.
    #[tokio::test(flavor = "current_thread")]
    async fn below_the_slash_64_line_cap_a_flood_waits_in_its_own_lines() {
        flood_from_another_slash_56(false).await;
    }

    /// Review S14, last read: the /64 lines were capped per /48 only, so
    /// one /56 holding loads from 64 of its /64s took them all, and a flood
    /// from one /64 of another /56 — another customer of a provider that
    /// shares a /56 out /64 by /64 — got no line of its /64 and queued
    /// ahead of every neighbour in its /56. Now one /56 has at most
    /// [`MAX_LINES_PER_SLASH_56`] of them.
    #[test]
    fn one_slash_56_takes_at_most_a_quarter_of_its_slash_48s_slash_64_lines() {
        let loads = KeyLoads::new(Duration::from_secs(30));
        let held: Vec<_> = (0..64u16)
            .map(|i| {
                let from = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, i, 0, 0, 0, 1));
                loads.place(from).unwrap()
            })
            .collect();
        let first = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        assert_eq!(loads.in_line(first).1, 2 + MAX_LINES_PER_SLASH_56);
        // another /56's /64 still gets a line of its own
        let other = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x01aa, 0, 0, 0, 9));
        let place = loads.place(other).unwrap();
        assert_eq!(loads.in_network(other, 64), 1);
        drop((held, place));
        assert_eq!(loads.in_line(first).1, 0);
        assert!(loads.lines.lock().unwrap().inner.is_empty());
    }

    async fn flood_from_another_slash_56(fill_the_cap: bool) {
        let loads = KeyLoads::new(Duration::from_millis(500));
        // the attacker's four /56s (2001:db8:0:0000::/56 to 0300), 16 of
        // each one's /64s with a load waiting: every /64 line the /48 may
        // have
        let mut held = Vec::new();
        for i in 0..if fill_the_cap { 64u16 } else { 0 } {
            let from = IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                ((i / 16) << 8) | (i % 16),
                0,
                0,
                0,
                1,
            ));
            held.push(loads.place(from).unwrap());
        }
        let filler = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
        if fill_the_cap {
            assert_eq!(loads.in_line(filler).1, 1 + 4 + MAX_LINES_PER_NETWORK);
        }
        // the attacker's other address, another /56 of the same /48
        let flooder = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0x1000, 0, 0, 0, 9));
        let mut tasks = Vec::new();
        for _ in 0..40 {
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                let _ = loads
                    .run(
                        Load::Stranger,
                        flooder,
                        || None,
                        || std::thread::sleep(Duration::from_millis(20)),
                    )
                    .await;
            }));
        }
        let filled = held.len();
        while loads.in_network(flooder, 48) < filled + 40 {
            tokio::task::yield_now().await;
        }
        if fill_the_cap {
            // its /64 got no line; its /56's line holds the flood back
            assert_eq!(loads.in_network(flooder, 64), 0);
            assert_eq!(loads.in_network(flooder, 56), 40);
        }
        let neighbour = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0xfe00, 0, 0, 0, 1));
        let victim = loads.run(Load::Stranger, neighbour, || None, || ()).await;
        for task in tasks {
            task.await.unwrap();
        }
        drop(held);
        assert!(
            victim.is_ok(),
            "a neighbour (its own /56) waited behind the attacker's whole flood from one \
             address of another /56: {:?}",
            victim.err().map(|e| e.code())
        );
    }
}
