//! A request's worst case on its budgets (`Cost`, `Worst`): dollars at the dearest
//! deployment's prices for what it asks (tokens, images, search units, audio), tokens for token
//! budgets. `reserve` holds it on the budgets.

use std::sync::OnceLock;

use adapters::provider::Provider;
use adapters::Endpoint;

use super::output::{Output, MAX_OUTPUT_TOKENS};
use super::{Entity, Kind};
use crate::routing::resolve::ResolvedGroup;
use crate::runtime::{Group, Runtime};

/// A request's worst case on its budgets: in dollars on money budgets, in tokens (prompt and
/// output) on token budgets (`max_token_budget`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Worst {
    pub usd: f64,
    pub tokens: f64,
}

impl Worst {
    /// The amount a hold on `e` reserves: tokens on a token-budget counter, else dollars.
    pub fn on(&self, e: &Entity) -> f64 {
        if e.kind == Kind::Tokens {
            self.tokens
        } else {
            self.usd
        }
    }
}

/// A request's worst case, as a function of its per-completion output bound: the group
/// routing will pick (after aliases and wildcards; none for a name no group serves, which
/// routing refuses and which reserves nothing), the prompt estimate and the output asked for.
pub struct Cost<'a> {
    group: Option<&'a Group>,
    provider: Option<Provider>,
    wildcard: Option<String>,
    prompt_tokens: u64,
    out: Output,
    /// Embeddings have no output to bound.
    endpoint: Endpoint,
    /// The group's output limit per completion, read only for a token budget (with a
    /// wildcard it means pricing every deployment).
    output_limit: OnceLock<u64>,
    /// An image request's `size` and `quality` (see [`Cost::images`]).
    image: Option<(Option<String>, Option<String>)>,
    /// A rerank request's search units (see [`Cost::images`]).
    searches: Option<u64>,
    /// A media request's seconds or characters (see [`Cost::media`]).
    media: Option<crate::media::ask::Ask>,
}

impl<'a> Cost<'a> {
    pub fn of(
        runtime: &'a Runtime,
        resolved: Option<ResolvedGroup<'_>>,
        endpoint: Endpoint,
        prompt_tokens: u64,
        out: Output,
    ) -> Cost<'a> {
        Cost::new(
            resolved.as_ref().and_then(|r| runtime.groups.get(r.group)),
            resolved.as_ref().and_then(|r| r.provider),
            resolved.and_then(|r| r.wildcard),
            endpoint,
            prompt_tokens,
            out,
        )
    }

    /// The worst case of a request served by `group` (resolved to `provider` and, through a
    /// wildcard, to model `wildcard`): a fallback hop's.
    pub fn new(
        group: Option<&'a Group>,
        provider: Option<Provider>,
        wildcard: Option<String>,
        endpoint: Endpoint,
        prompt_tokens: u64,
        out: Output,
    ) -> Cost<'a> {
        Cost {
            group,
            provider,
            wildcard,
            prompt_tokens,
            out,
            endpoint,
            output_limit: OnceLock::new(),
            image: None,
            searches: None,
            media: None,
        }
    }

    /// For an image request, reserve what its `size` and `quality` cost at the dearest
    /// deployment of the group (not the dearest image of any size). Other requests unchanged.
    pub fn images(mut self, req: &adapters::CanonicalRequest) -> Self {
        if req.endpoint == Endpoint::ImageGenerations {
            let text = |k: &str| req.body.get(k).and_then(|v| v.as_str()).map(String::from);
            self.image = Some((text("size"), text("quality")));
        }
        if req.endpoint == Endpoint::Rerank {
            // One search unit per 100 documents, as the providers bill; a document longer
            // than Cohere's 500-token chunk counts once per chunk.
            let chunks: u64 =
                req.body
                    .get("documents")
                    .and_then(|d| d.as_array())
                    .map_or(0, |docs| {
                        docs.iter()
                            .map(|d| {
                                adapters::tokens::estimate_tokens(d.to_string().len())
                                    .div_ceil(500)
                                    .max(1)
                            })
                            .sum()
                    });
            self.searches = Some(
                chunks
                    .div_ceil(adapters::rerank::DOCUMENTS_PER_SEARCH_UNIT)
                    .max(1),
            );
        }
        self
    }

    /// `units` search units at the dearest `input_cost_per_query` of the group's deployments;
    /// `None` when none is priced per search unit.
    fn search_worst(&self, g: &Group, units: u64) -> Option<f64> {
        g.deployments
            .iter()
            .filter_map(|d| d.price_for(self.wildcard.as_deref()))
            .filter_map(|p| p.input_cost_per_query)
            .reduce(f64::max)
            .map(|per_query| per_query * units as f64)
    }

    /// For a media request (audio seconds, speech characters), reserve its worst case at the
    /// dearest deployment of the group (`media::Ask::worst`). Other requests unchanged.
    pub fn media(mut self, ask: Option<&crate::media::ask::Ask>) -> Self {
        self.media = ask.copied();
        self
    }

    /// The media request's worst case at the dearest deployment that prices it.
    fn media_worst(&self, g: &Group) -> Option<f64> {
        let ask = self.media.as_ref()?;
        g.deployments
            .iter()
            .filter_map(|d| d.price_for(self.wildcard.as_deref()))
            .filter_map(|p| ask.worst(&p))
            .reduce(f64::max)
    }

    /// `n` images at the dearest deployment's price for the size and quality asked (else the
    /// dearest image of the group); `None` when no deployment has an image price.
    fn image_worst(&self, g: &Group, images: u64) -> Option<f64> {
        let (size, quality) = self.image.as_ref()?;
        let each = g
            .deployments
            .iter()
            .filter_map(|d| d.price_for(self.wildcard.as_deref()))
            .filter_map(|p| crate::pricing::image_cost(&p, size.as_deref(), quality.as_deref(), 1))
            .fold(None, |m: Option<f64>, c| Some(m.map_or(c, |m| m.max(c))));
        match each {
            Some(c) => Some(c * images as f64),
            None => (g.worst_image > 0.0).then_some(g.worst_image * images as f64),
        }
    }

    /// The worst case with `max_tokens` per completion; in tokens only with `tokens` (the
    /// request counts toward a token budget), else 0 there.
    pub fn at(&self, max_tokens: u64, tokens: bool) -> Worst {
        self.with(
            Output {
                max_tokens: Some(max_tokens),
                ..self.out
            },
            tokens,
        )
    }

    /// The worst case as asked (see [`Cost::at`]).
    pub fn requested(&self, tokens: bool) -> Worst {
        self.with(self.out, tokens)
    }

    fn with(&self, out: Output, tokens: bool) -> Worst {
        let Some(g) = self.group else {
            return Worst::default();
        };
        let image = if self.endpoint == Endpoint::ImageGenerations {
            // Without the request's size (a caller that did not pass it): the dearest image.
            self.image_worst(g, out.completions)
                .or((g.worst_image > 0.0).then_some(g.worst_image * out.completions as f64))
        } else {
            None
        };
        let searched = self.searches.and_then(|units| self.search_worst(g, units));
        let usd = match image.or(searched).or_else(|| self.media_worst(g)) {
            Some(usd) => usd,
            None => g.worst_case_for(
                self.provider,
                self.wildcard.as_deref(),
                self.prompt_tokens,
                out,
            ),
        };
        Worst {
            usd,
            tokens: if tokens {
                self.tokens_with(g, out) as f64
            } else {
                0.0
            },
        }
    }

    /// The prompt plus every output token the request may be billed for.
    fn tokens_with(&self, g: &Group, out: Output) -> u64 {
        if !self.bounded() {
            return self.prompt_tokens;
        }
        let limit = *self
            .output_limit
            .get_or_init(|| g.output_limit_for(self.provider, self.wildcard.as_deref()));
        self.prompt_tokens.saturating_add(out.tokens(limit))
    }

    /// Whether the output can be bounded with `max_tokens` (not for embeddings or images).
    pub fn bounded(&self) -> bool {
        self.endpoint.bounds_tokens()
    }

    /// The largest per-completion `max_tokens`, up to what was asked, whose worst case on the
    /// budget of `e` is at most `available` (in that budget's unit); 0 when not even one
    /// token fits.
    pub fn largest_within(&self, e: &Entity, available: f64) -> u64 {
        let tokens = e.kind == Kind::Tokens;
        let (mut lo, mut hi) = (0u64, self.out.max_tokens.unwrap_or(MAX_OUTPUT_TOKENS));
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            if self.at(mid, tokens).on(e) <= available {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    }
}
