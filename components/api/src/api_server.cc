#include "snap/api_server.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <array>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/json.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "builtin_routes.h"
#include "http_client.h"
#include "http_server.h"
#include "listen_addresses.h"
#include "openapi.h"
#include "route_binding.h"
#include "version_skew.h"
#include "snap/app.h"
#include "snap/divergence.h"
#include "snap/environment.h"
#include "snap/episode.h"
#include "snap/env.h"
#include "snap/logging.h"
#include "snap/membrane.h"
#include "snap/metrics.h"
#include "snap/store.h"
#include "snap/text.h"

namespace snap {

namespace {

using api_detail::kHealthPath;
using api_detail::kMetricsPath;
// Set by deployment (`build --observability`): the name of the server's address on the
// network it shares with Prometheus only.
constexpr std::string_view kMetricsHostVariable = "SNAP_METRICS_HOST";
// Set by deployment (`build --publish`): the name of the server's address on the network
// its published port leads to.
constexpr std::string_view kPublicHostVariable = "SNAP_PUBLIC_HOST";
constexpr std::string_view kMethods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
// Retry backoff while a server cannot be reached: first wait, and the cap it doubles to.
constexpr std::chrono::milliseconds kFirstBackoff{25};
constexpr std::chrono::milliseconds kMaxBackoff{1'000};
// What a caller sees of an exception that is not an ApiError; its text stays in the log.
constexpr std::string_view kInternalMessage = "internal error (details are in the server's log)";

// The error format (docs/api.md): {"code": NAME, "message": TEXT} and "reason": WORD when
// there is one, as an error response's body and as an episode records an error.
boost::json::object error_object(ErrorCode code, std::string_view message, std::string_view reason = {}) {
  boost::json::object o{{"code", to_string(code)}, {"message", message}};
  if (!reason.empty()) o["reason"] = reason;
  return o;
}
boost::json::object error_object(const ApiError& e) { return error_object(e.code(), e.message(), e.reason()); }

std::string error_body(ErrorCode code, std::string_view message, std::string_view reason = {}) {
  return boost::json::serialize(error_object(code, message, reason));
}

// Throws the ApiError that `v` describes in the error format; returns when it is none.
void throw_if_error_object(const boost::json::value* v) {
  const boost::json::object* o = v != nullptr ? v->if_object() : nullptr;
  if (o == nullptr) return;
  const auto* code = o->if_contains("code");
  const auto* message = o->if_contains("message");
  if (code != nullptr && code->is_string() && message != nullptr && message->is_string()) {
    const auto* reason = o->if_contains("reason");
    if (auto c = error_code_from_string(code->get_string())) {
      throw ApiError(*c, std::string(message->get_string()),
                     reason != nullptr && reason->is_string() ? std::string(reason->get_string()) : std::string());
    }
  }
}

// A store's error as the handler's caller should see it: what to do (fix the request,
// retry later) rather than "internal". The store's message goes to the caller only when
// it is about the caller's input; otherwise it names the database server, so it stays in
// the log. A database outage is logged once by the store itself (docs/store.md), hence
// `unavailable` at debug here and not once per call.
struct MappedStoreError {
  ApiError error;
  spdlog::level::level_enum log_level;
};
// The code is the error's canonical code (StoreError picks it); the store's own code
// chooses only the message and the log level.
MappedStoreError map_store_error(const StoreError& e) {
  using C = StoreError::Code;
  const ErrorCode code = static_cast<const Error&>(e).code();
  switch (e.code()) {
    case C::kInvalidArgument:
    case C::kAlreadyExists:  // about the caller's input: its message names the key
      return {ApiError(code, e.what()), spdlog::level::debug};
    case C::kUnavailable: return {ApiError(code, "the database is unavailable; retry later"), spdlog::level::debug};
    case C::kConflict:
      return {ApiError(code, "the write kept conflicting with concurrent writes; retry it"), spdlog::level::warn};
    case C::kInDoubt:
      // Retryable as an outage is, but a retried write may then happen twice.
      return {ApiError(code,
                       "the database connection broke while the write was committing: it may or may not have "
                       "happened; check before retrying"),
              spdlog::level::warn};
    case C::kConversion:
    case C::kBackend: break;
  }
  return {ApiError(code, std::string(kInternalMessage)), spdlog::level::warn};
}

// Whether a presented token is the expected one, in time that depends on the expected
// token's length only: how soon a comparison fails must not tell a caller how much of
// its guess was right.
bool constant_time_equal(std::string_view given, std::string_view expected) {
  unsigned char differ = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const unsigned char g = i < given.size() ? static_cast<unsigned char>(given[i]) : 0;
    differ |= static_cast<unsigned char>(g ^ static_cast<unsigned char>(expected[i]));
  }
  return differ == 0;
}

// Headers an episode never keeps: they carry credentials (docs/episodes.md, "What an
// episode holds"). The authentication's outcome is recorded instead.
// Compared as ASCII: a header name is a token (RFC 9110 §5.6.2), and a locale's
// comparison cost a recorded request ~2,500 instructions (bench/README.md, "Recording
// requests (episodes)").
bool is_credential(std::string_view name) {
  const auto is = [name](std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i] >= 'A' && name[i] <= 'Z' ? static_cast<char>(name[i] - 'A' + 'a') : name[i];
      if (c != lower[i]) return false;
    }
    return true;
  };
  return is("authorization") || is("proxy-authorization") || is("cookie");
}

// A request's id when it has no trace (tracing off or not sampled): as random as a trace
// id, from no membrane (it is no input of the handler's).
std::string request_id() {
  thread_local std::mt19937_64 ids{std::random_device{}()};
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", static_cast<unsigned long long>(ids()),
                static_cast<unsigned long long>(ids()));
  return text;
}

// The recorded outcome of an authentication: {"principal": {...}}, {"error": {...}} for
// an ApiError, {"failed": TEXT} for any other exception.
std::string authentication_outcome(const std::function<Principal()>& authenticate) {
  try {
    const Principal p = authenticate();
    boost::json::object attributes;
    for (const auto& [k, v] : p.attributes) attributes[k] = v;
    return boost::json::serialize(
        boost::json::object{{"principal", boost::json::object{{"subject", p.subject}, {"attributes", attributes}}}});
  } catch (const ApiError& e) {
    return boost::json::serialize(boost::json::object{{"error", error_object(e)}});
  } catch (const std::exception& e) {
    return boost::json::serialize(boost::json::object{{"failed", e.what()}});
  }
}

[[noreturn]] void bad_recorded(std::string_view what) {
  throw LogError(LogErrorCode::kCorrupt, "the episode's " + std::string(what) + " reply is not well-formed");
}

Principal principal_from(std::string_view reply) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(reply, ec);
  if (ec || !v.is_object()) bad_recorded("authentication");
  const auto& o = v.get_object();
  if (const auto* p = o.if_contains("principal")) {
    if (!p->is_object() || !p->get_object().contains("subject") || !p->get_object().at("subject").is_string()) {
      bad_recorded("authentication");
    }
    Principal out{std::string(p->get_object().at("subject").get_string()), {}};
    if (const auto* a = p->get_object().if_contains("attributes"); a != nullptr && a->is_object()) {
      for (const auto& m : a->get_object()) {
        if (m.value().is_string()) out.attributes[std::string(m.key())] = std::string(m.value().get_string());
      }
    }
    return out;
  }
  throw_if_error_object(o.if_contains("error"));
  if (const auto* f = o.if_contains("failed"); f != nullptr && f->is_string()) {
    throw std::runtime_error(std::string(f->get_string()));
  }
  bad_recorded("authentication");
}

// An endpoint call's recorded outcome: {"body": TEXT} or {"error": {"code", "message"}}.
std::string call_outcome(const std::function<std::string()>& call) {
  try {
    return boost::json::serialize(boost::json::object{{"body", call()}});
  } catch (const ApiError& e) {
    return boost::json::serialize(boost::json::object{{"error", error_object(e)}});
  }
}

std::string call_result(std::string_view reply) {
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(reply, ec);
  if (ec || !v.is_object()) bad_recorded("endpoint call");
  const auto& o = v.get_object();
  if (const auto* body = o.if_contains("body"); body != nullptr && body->is_string()) {
    return std::string(body->get_string());
  }
  throw_if_error_object(o.if_contains("error"));
  bad_recorded("endpoint call");
}

// Until the server's body starts (a dev call may come first): its lines as the persona's
// would be, at info.
std::shared_ptr<spdlog::logger> make_logger(const std::string& name) {
  return make_persona_logger(PersonaLogOptions{name, name});
}

}  // namespace

struct ApiServer::State {
  struct Route {
    std::string method;
    std::string path;  // the template ("/api/customer/{id}")
    api_detail::RouteShape shape;
    EndpointOptions options;
    api_detail::RouteHandler handler;
    std::string span_name;  // "METHOD PATH": the server's and its callers' spans, and the route label
    Histogram served_seconds;  // this route's latency as served, and as its callers waited
    Histogram called_seconds;
  };

  // Prometheus metrics (docs/observability.md), in the app's registry; the label values
  // are this server's service name, its routes and status codes / error codes: bounded.
  std::string server_label;
  CounterFamily* requests = nullptr;
  CounterFamily* calls = nullptr;
  CounterFamily* version_skew = nullptr;
  // Calls from other builds, checked while the server serves HTTP (made by serve()).
  std::unique_ptr<api_detail::VersionSkewCheck> skew_check;
  Gauge in_flight;
  std::vector<Route> routes;  // frozen after startup
  // Whether config() records the endpoints' request and response schemas: 1, or
  // Membrane::kDefaultVersion replaying a log built before it did (its manifest has none).
  int schemas_version = 1;
  // The endpoints as their description sees them (openapi.h).
  api_detail::Described describe() const {
    std::vector<api_detail::EndpointTypes> endpoints;
    for (const Route& r : routes) {
      endpoints.push_back({r.method, r.path, r.options.idempotent, r.shape.request.schema, r.shape.response});
    }
    return api_detail::describe_endpoints(endpoints);
  }

  // The running server body (dev calls run handlers with its context).
  std::mutex mutex;
  std::condition_variable changed;
  PersonaContext* server_ctx = nullptr;  // guarded by mutex; set while the body runs
  bool stopped = false;                  // guarded by mutex
  int direct_calls = 0;                  // guarded by mutex; dev calls in flight
  // Dev calls held to the HTTP handler pool's limits: handlers running, calls waiting
  // for one to finish, and whether those waiting are refused (the stop deadline passed).
  unsigned direct_running = 0;     // guarded by mutex
  std::size_t direct_waiting = 0;  // guarded by mutex
  bool refuse_waiting = false;     // guarded by mutex
  api_detail::HttpServer* http = nullptr;  // guarded by mutex; set while serving HTTP
  std::shared_ptr<spdlog::logger> logger = make_logger("api");  // replaced when the body starts

  // Client side: one pool per server, made on the first call.
  std::once_flag pool_once;
  std::unique_ptr<api_detail::ClientPool> pool;

  // Authentication, declared at startup: the check every request to an endpoint passes
  // first (empty: none); the bearer token it compares with, when it is a bearer_token
  // check (its value read by serve() before any request); the token the program's
  // callers send.
  AuthHook authenticate;
  std::optional<BearerToken> checked_token;
  std::optional<BearerToken> sent_token;
  std::string expected_token;
  // The Authorization value each caller persona sends, read once from its own secrets
  // (a deque: the values handed out stay where they are).
  std::mutex authorizations_mutex;
  std::deque<std::pair<const Persona*, std::string>> authorizations;  // guarded by authorizations_mutex
  // publish(): the host port deployment publishes the server on; 0: none.
  unsigned published_port = 0;

  // A literal route before any with parameters ("/users/me" before "/users/{id}"); among
  // those, the first declared.
  const Route* find(std::string_view method, std::string_view path) const {
    const Route* templated = nullptr;
    for (const Route& r : routes) {
      if (r.method != method) continue;
      if (!r.shape.has_params) {
        if (r.path == path) return &r;
      } else if (templated == nullptr && api_detail::matches(r.shape, path)) {
        templated = &r;
      }
    }
    return templated;
  }

  // Runs a route's handler as the server and turns the outcome into a reply: the one
  // place where errors become status + error body, for both transports.
  // Authentication first (before the request is bound), then the handler; both see the
  // request as ctx.request().
  api_detail::HttpReply dispatch(const Route& route, PersonaContext& ctx, const api_detail::RequestText& request,
                                 std::span<const Header> headers) {
    try {
      std::optional<Principal> principal;
      if (authenticate) {
        const RequestInfo unknown_caller(route.method, request.target, headers);
        const request_detail::HandlingRequest handling(ctx, unknown_caller);
        if (Episode* episode = current_episode()) {
          // In a recorded request the hook's outcome is the input, not what the hook read
          // (the credentials are not kept): replay answers with the outcome alone.
          principal = principal_from(episode->membrane().operation("auth", route.span_name, {}, [&] {
            SuspendEpisode outside;
            return authentication_outcome([&] { return authenticate(ctx, unknown_caller); });
          }));
        } else {
          principal = authenticate(ctx, unknown_caller);
        }
      }
      const RequestInfo info(route.method, request.target, headers, principal ? &*principal : nullptr);
      const request_detail::HandlingRequest handling(ctx, info);
      std::string out = route.handler(ctx, route.shape, request);
      if (out.empty()) return {204, {}};
      return {200, std::move(out)};
    } catch (const Divergence&) {
      throw;  // a replayed request went another way: the replay's report, not a response
    } catch (const LogError&) {
      throw;  // a damaged episode
    } catch (const ApiError& e) {
      ctx.span().set("snap.error_code", to_string(e.code()));
      // internal is the server's own fault (a response with no JSON form): worth a warning.
      logger->log(e.code() == ErrorCode::kInternal ? spdlog::level::warn : spdlog::level::debug, "{} {}: {}",
                  route.method, route.path, e.what());
      api_detail::HttpReply reply{http_status(e.code()), error_body(e.code(), e.message(), e.reason())};
      // RFC 9110 §15.5.2: a 401 says how to authenticate.
      if (e.code() == ErrorCode::kUnauthenticated && authenticate) reply.www_authenticate = "Bearer";
      return reply;
    } catch (const StoreError& e) {
      const MappedStoreError mapped = map_store_error(e);
      ctx.span().set("snap.error_code", to_string(mapped.error.code()));
      logger->log(mapped.log_level, "{} {}: store error, sent as {}: {}", route.method, route.path,
                  to_string(mapped.error.code()), e.what());
      return {http_status(mapped.error.code()), error_body(mapped.error.code(), mapped.error.message())};
    } catch (const std::exception& e) {
      ctx.span().set("snap.error_code", to_string(ErrorCode::kInternal));
      logger->warn("{} {}: internal error: {}", route.method, route.path, e.what());
      return {500, error_body(ErrorCode::kInternal, kInternalMessage)};
    } catch (...) {
      logger->warn("{} {}: internal error: a non-standard exception", route.method, route.path);
      return {500, error_body(ErrorCode::kInternal, kInternalMessage)};
    }
  }

  api_detail::HttpReply dispatch_recorded(EpisodeSink& sink, const Route& route, PersonaContext& ctx,
                                          const api_detail::RequestText& request, std::span<const Header> headers);
  static void redact_request(const Route& route, EpisodeRequest& request);

  // dispatch() as the server span of the request (OpenTelemetry's HTTP semantic
  // conventions): a child of the caller's span -- `remote` from its traceparent header,
  // or in dev the caller's client span, current on this very thread.
  api_detail::HttpReply handle(const Route& route, PersonaContext& ctx, const api_detail::RequestText& request,
                               std::span<const Header> headers, const SpanContext* remote) {
    const auto started = std::chrono::steady_clock::now();
    in_flight.add(1);
    api_detail::HttpReply reply = handle_traced(route, ctx, request, headers, remote);
    in_flight.add(-1);
    route.served_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    requests->with({server_label, route.span_name, std::to_string(reply.status)}).inc();
    return reply;
  }

  api_detail::HttpReply handle_traced(const Route& route, PersonaContext& ctx, const api_detail::RequestText& request,
                                      std::span<const Header> headers, const SpanContext* remote) {
    PersonaSpan server(ctx, route.span_name, SpanKind::kServer, remote);
    Span& span = server.span();
    if (span.recording()) {
      span.set("http.request.method", route.method).set("http.route", route.path);
      span.set("url.path", request.target.substr(0, request.target.find('?')));
      span.set("snap.persona", ctx.persona().id().str());
    }
    EpisodeSink* episodes = ctx.app().episodes();
    api_detail::HttpReply reply = episodes != nullptr && route.options.record && episodes->wants_request()
                                      ? dispatch_recorded(*episodes, route, ctx, request, headers)
                                      : dispatch(route, ctx, request, headers);
    if (span.recording()) {
      span.set("http.response.status_code", reply.status);
      // A server span fails for 5xx only: a 4xx is the caller's error, not the server's.
      if (reply.status >= 500) span.set_error(reply.body);
    }
    return reply;
  }
};

// dispatch() as an episode (snap/episode.h): every input the handler reads is kept, and
// the sink writes the episode when its policy says so.
api_detail::HttpReply ApiServer::State::dispatch_recorded(EpisodeSink& sink, const Route& route, PersonaContext& ctx,
                                                          const api_detail::RequestText& request,
                                                          std::span<const Header> headers) {
  Env& env = ctx.app().env();
  const auto started = env.wall_now();
  const auto started_steady = std::chrono::steady_clock::now();
  Episode episode(ctx.app());
  api_detail::HttpReply reply;
  {
    ActiveEpisode active(&episode);
    reply = dispatch(route, ctx, request, headers);
  }
  FinishedEpisode finished;
  EpisodeInfo& info = finished.info;
  info.app = ctx.app().id().str();
  info.build = ctx.app().build_id();
  info.request.persona = ctx.persona().id().str();
  info.request.method = route.method;
  info.request.route = route.path;
  info.request.target = std::string(request.target);
  info.request.body = std::string(request.body);
  if (route.options.redact_request) redact_request(route, info.request);
  for (const Header& h : headers) {
    if (!is_credential(h.name)) info.request.headers.emplace_back(std::string(h.name), std::string(h.value));
  }
  info.response.status = reply.status;
  info.response.body = reply.status < 300 && route.options.redact_response && !reply.body.empty()
                           ? route.options.redact_response(reply.body)
                           : reply.body;
  const SpanContext* trace = current_span_context();
  info.trace_id = trace != nullptr && trace->valid() ? trace->trace_id.hex() : request_id();
  info.started_unix_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(started.time_since_epoch()).count();
  info.duration_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_steady).count();
  finished.inputs = episode.take_inputs();
  sink.finish(std::move(finished), *logger);
  return reply;
}

// The request as the endpoint's redaction leaves it: its fields, from wherever they
// travel, redacted and rendered again as they would travel.
void ApiServer::State::redact_request(const Route& route, EpisodeRequest& request) {
  try {
    const api_detail::RequestText text{request.target, request.body};
    const boost::json::value bound =
        api_detail::body_only(route.shape) ? boost::json::parse(request.body) : api_detail::bind_request(route.shape, text);
    const std::string redacted = route.options.redact_request(boost::json::serialize(bound));
    if (api_detail::body_only(route.shape)) {
      request.body = redacted;
    } else {
      api_detail::WireRequest wire = api_detail::render_request(route.shape, boost::json::parse(redacted));
      request.target = std::move(wire.target);
      request.body = std::move(wire.body);
    }
  } catch (const std::exception&) {
    // A request that does not bind cannot be redacted field by field: keep none of it.
    request.target = request.target.substr(0, request.target.find('?'));
    request.body.clear();
  }
}

namespace api_detail {

std::optional<HttpReply> answer_builtin(std::string_view method, std::string_view path, Audience from,
                                        const std::function<std::string()>& metrics, const std::string& openapi) {
  const bool scrape = path == kMetricsPath && method == "GET";
  if (from == Audience::kScraper) {
    if (scrape) return HttpReply{200, metrics(), kMetricsContentType};
    return HttpReply{404, error_body(ErrorCode::kNotFound, "only GET /metrics is served on this address")};
  }
  if (path == kHealthPath && method == "GET") return HttpReply{200, R"({"status":"ok"})"};
  if (path == kOpenApiPath && method == "GET") return HttpReply{200, openapi};
  if (scrape && from == Audience::kLocal) return HttpReply{200, metrics(), kMetricsContentType};
  return std::nullopt;
}

void throw_bad_request(const JsonError& e, bool body_only) {
  throw ApiError(ErrorCode::kInvalidArgument, (body_only ? "request body: " : "request: ") + std::string(e.what()));
}

void throw_unencodable_response(const JsonError& e) {
  throw ApiError(ErrorCode::kInternal, "response body: " + std::string(e.what()));
}

void throw_bad_response(const ApiServer& server, std::size_t route, const JsonError& e) {
  throw ApiError(ErrorCode::kInternal,
                 "response of " + server.describe_route(route) + " does not fit the response type: " + e.what());
}

}  // namespace api_detail

ApiServer::ApiServer(const Init& init, ApiServerOptions options)
    : Persona(init, PersonaKind::kDaemon, [this](PersonaContext& ctx) { return serve(ctx); }, "ApiServer"),
      options_(std::move(options)),
      port_(&add<Port>("port")),
      state_(std::make_unique<State>()) {
  MetricsRegistry& metrics = app().metrics();
  state_->server_label = id().service_name();
  state_->requests = &metrics.counter("snap_http_server_requests_total", "HTTP requests an API server answered.",
                                      {"server", "route", "code"});
  state_->calls = &metrics.counter("snap_http_client_calls_total",
                                   "Typed endpoint calls made, by the server and route called and their outcome "
                                   "(ok, or the error's code).",
                                   {"server", "route", "outcome"});
  state_->version_skew = &metrics.counter(
      "snap_http_server_version_skew_total",
      "Calls from another build of the program, by the caller's build and what the server did (refused, served).",
      {"server", "peer_build", "action"});
  state_->in_flight = metrics
                          .gauge("snap_http_server_requests_in_flight", "Requests an API server is handling now.",
                                 {"server"})
                          .with({state_->server_label});
  if (options_.body_limit == 0 || options_.header_limit == 0 || options_.max_connections == 0) {
    throw std::invalid_argument("ApiServer " + id().str() + ": body_limit, header_limit and max_connections must be > 0");
  }
  if (options_.body_budget < options_.body_limit) {
    throw std::invalid_argument("ApiServer " + id().str() + ": body_budget (" + std::to_string(options_.body_budget) +
                                ") must be at least body_limit (" + std::to_string(options_.body_limit) +
                                "): a body at the limit could never be read");
  }
  if (options_.handler_threads == 0) {
    throw std::invalid_argument("ApiServer " + id().str() + ": handler_threads must be > 0");
  }
  if (!options_.log_level.empty() && spdlog::level::from_str(options_.log_level) == spdlog::level::off &&
      options_.log_level != "off") {
    throw std::invalid_argument("ApiServer " + id().str() + ": unknown log_level \"" + options_.log_level +
                                "\" (trace, debug, info, warn, error, critical, off)");
  }
  uses(*port_);
  state_->schemas_version =
      app().membrane().version("api-server.endpoint-schemas", Membrane::kDefaultVersion, state_->schemas_version);
  on_stop([this] {
    std::lock_guard lock(state_->mutex);
    if (state_->http != nullptr) state_->http->stop_accepting();
  });
}

ApiServer::~ApiServer() = default;

std::size_t ApiServer::add_route(std::string_view method, std::string_view path, EndpointOptions options,
                                 api_detail::RequestType request, api_detail::RouteHandler handler,
                                 ShapeOf response) {
  app().assert_startup();
  const std::string where = "ApiServer " + id().str() + ": endpoint " + std::string(method) + " " + std::string(path);
  if (std::find(std::begin(kMethods), std::end(kMethods), method) == std::end(kMethods)) {
    throw std::invalid_argument(where + ": method must be GET, POST, PUT, PATCH or DELETE");
  }
  if (path.empty() || path[0] != '/' || path.find_first_of("?# \r\n") != std::string_view::npos) {
    throw std::invalid_argument(where + ": path must start with '/' and hold no query, fragment or space");
  }
  if (path == kHealthPath) throw std::invalid_argument(where + ": /healthz is the server's own health check");
  if (path == kMetricsPath) throw std::invalid_argument(where + ": /metrics is the server's own metrics");
  if (path == api_detail::kOpenApiPath) {
    throw std::invalid_argument(where + ": /openapi.json is the server's own OpenAPI description");
  }
  api_detail::RouteShape shape = api_detail::make_shape(where, method, path, std::move(request));
  shape.response = response;
  // Its OpenAPI description must tell every endpoint and every type apart.
  const std::string operation = api_detail::operation_id(method, path);
  std::vector<api_detail::EndpointTypes> described;
  for (const State::Route& r : state_->routes) {
    if (api_detail::same_routes(r.shape, shape)) {
      throw std::invalid_argument(where + (r.path == path ? ": declared twice" : ": the same route as " + r.path));
    }
    if (api_detail::operation_id(r.method, r.path) == operation) {
      throw std::invalid_argument(where + ": its OpenAPI operationId " + operation + " is also the one of " + r.method +
                                  " " + r.path + " (docs/api.md, \"OpenAPI\"): change one of the paths");
    }
    described.push_back({r.method, r.path, false, r.shape.request.schema, r.shape.response});
  }
  described.push_back({method, path, false, shape.request.schema, shape.response});
  try {
    api_detail::describe_endpoints(described);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": " + e.what());
  }
  const std::string route_name = std::string(method) + " " + std::string(path);
  MetricsRegistry& metrics = app().metrics();
  state_->routes.push_back(
      {std::string(method), std::string(path), std::move(shape), options, std::move(handler), route_name,
       metrics
           .histogram("snap_http_server_request_duration_seconds", "Time an API server took to answer a request.",
                      {"server", "route"})
           .with({state_->server_label, route_name}),
       metrics
           .histogram("snap_http_client_call_duration_seconds",
                      "Time a typed endpoint call took, as its caller waited (retries included).", {"server", "route"})
           .with({state_->server_label, route_name})});
  return state_->routes.size() - 1;
}

const api_detail::RouteShape& ApiServer::shape(std::size_t route) const { return state_->routes.at(route).shape; }

// ---- authentication ----

std::string BearerToken::value(const PersonaContext& ctx, std::source_location where) const {
  return ctx.secret(*secret_, name_, where);
}

BearerToken bearer_token(const Secret& secret) { return BearerToken(secret, secret.secret_name()); }
BearerToken bearer_token(const Password& password) { return BearerToken(password, password.secret_name()); }

void ApiServer::set_authentication(AuthHook hook, const BearerToken* token) {
  app().assert_startup();
  const std::string where = "ApiServer " + id().str() + ": authenticate()";
  if (state_->authenticate) throw std::invalid_argument(where + " declared twice: a server has one authentication");
  if (token != nullptr) {
    if (state_->sent_token) {
      throw std::invalid_argument(where + ": credentials() was declared first, and a server that checks a bearer "
                                  "token has its callers send that token: remove credentials()");
    }
    // The server checks it, so it holds it; its callers send it, so they must hold it too.
    uses(token->secret());
    state_->checked_token = *token;
    state_->sent_token = *token;
    State* state = state_.get();
    hook = [state, subject = token->secret_name()](PersonaContext&, const RequestInfo& request) -> Principal {
      const std::optional<std::string_view> presented = request.bearer();
      if (!presented) {
        if (!request.header("authorization")) {
          throw ApiError(ErrorCode::kUnauthenticated, "no credentials: send the header Authorization: Bearer TOKEN");
        }
        throw ApiError(ErrorCode::kUnauthenticated, "the Authorization header is not Bearer TOKEN");
      }
      if (!constant_time_equal(*presented, state->expected_token)) {
        throw ApiError(ErrorCode::kUnauthenticated, "the bearer token is not valid");
      }
      return Principal{subject, {}};
    };
  }
  state_->authenticate = std::move(hook);
}

ApiServer& ApiServer::authenticate(BearerToken token) {
  set_authentication({}, &token);
  return *this;
}

ApiServer& ApiServer::credentials(BearerToken token) {
  app().assert_startup();
  const std::string where = "ApiServer " + id().str() + ": credentials()";
  if (state_->checked_token) {
    throw std::invalid_argument(where + ": it authenticates with bearer_token(" + state_->checked_token->secret().id().str() +
                                "), which its callers in this program send already");
  }
  if (state_->sent_token) throw std::invalid_argument(where + " declared twice");
  state_->sent_token = std::move(token);
  return *this;
}

const std::string& ApiServer::authorization_for(const PersonaContext& caller, std::source_location where) const {
  static const std::string kNone;
  if (!state_->sent_token) return kNone;
  const Persona* persona = &caller.persona();
  {
    std::lock_guard lock(state_->authorizations_mutex);
    for (const auto& [p, value] : state_->authorizations) {
      if (p == persona) return value;
    }
  }
  const BearerToken& token = *state_->sent_token;
  if (!caller.reaches(token.secret())) {
    const Component& secret = token.secret();
    throw UsesError("persona " + persona->id().name() + " (" + persona->id().str() + ") calls " + id().str() +
                    ", whose callers send the bearer token " + secret.id().str() + " (" + secret.type() +
                    "), and does not use it, reached at " + where.file_name() + ":" + std::to_string(where.line()) +
                    ": declare it at startup with .uses(" + secret.id().name() +
                    ") on the persona, so that it receives the secret");
  }
  std::string value = "Bearer " + token.value(caller, where);
  std::lock_guard lock(state_->authorizations_mutex);
  return state_->authorizations.emplace_back(persona, std::move(value)).second;
}

ApiServer& ApiServer::publish(std::uint16_t host_port) {
  app().assert_startup();
  const std::string where = "ApiServer " + id().str() + ": publish(" + std::to_string(host_port) + ")";
  if (host_port == 0) throw std::invalid_argument(where + ": a port is from 1 to 65535");
  if (state_->published_port != 0) {
    throw std::invalid_argument(where + ": already published on " + std::to_string(state_->published_port));
  }
  state_->published_port = host_port;
  return *this;
}

api_detail::WireRequest ApiServer::render(std::size_t route, const boost::json::value& request) const {
  return api_detail::render_request(state_->routes.at(route).shape, request);
}

std::string ApiServer::describe_route(std::size_t route) const {
  const auto& r = state_->routes.at(route);
  return r.method + " " + r.path + " (" + id().str() + ")";
}

std::string ApiServer::openapi() const {
  boost::json::object described = config();
  if (!described.contains("schemas")) {  // replaying a log built before config() recorded them
    api_detail::Described d = state_->describe();
    described["endpoints"] = std::move(d.endpoints);
    described["schemas"] = std::move(d.schemas);
  }
  return api_detail::openapi_document(id().str(), described);
}

boost::json::object ApiServer::config() const {
  api_detail::Described described;
  boost::json::array endpoints;
  if (state_->schemas_version >= 1) {
    described = state_->describe();
    endpoints = std::move(described.endpoints);
  } else {  // the manifest of a log built before schemas were recorded
    for (const auto& r : state_->routes) {
      endpoints.push_back(
          boost::json::object{{"method", r.method}, {"path", r.path}, {"idempotent", r.options.idempotent}});
    }
  }
  boost::json::object config{
      {"port", port_->number()},
      {"endpoints", std::move(endpoints)},
      {"health_path", kHealthPath},
      {"limits",
       boost::json::object{
           {"body_limit", options_.body_limit},
           {"header_limit", options_.header_limit},
           {"request_timeout_ms", options_.request_timeout.count()},
           {"write_timeout_ms", options_.write_timeout.count()},
           {"max_connections", options_.max_connections},
           {"stop_deadline_ms", options_.stop_deadline.count()},
       }},
  };
  // Only when declared, so that a server without them keeps the manifest it had.
  if (state_->authenticate) config["authentication"] = state_->checked_token ? "bearer_token" : "hook";
  if (state_->published_port != 0) config["publish"] = state_->published_port;
  // What the endpoints' schemas refer to ("#/schemas/NAME"), so that tools read them from
  // the log without the program (docs/api.md, "In the manifest").
  if (state_->schemas_version >= 1) config["schemas"] = std::move(described.schemas);
  return config;
}

std::string ApiServer::host() const { return app().environment().host_of(*this); }

EpisodeResponse ApiServer::replay_request(PersonaContext& ctx, const EpisodeRequest& request) const {
  const State::Route* route = nullptr;
  for (const State::Route& r : state_->routes) {
    if (r.method == request.method && r.path == request.route) route = &r;
  }
  if (route == nullptr) {
    throw Divergence(Divergence::Reason::kDifferentCall, 0,
                     Divergence::Call{"episode.request", request.method + " " + request.route, {}, {}, 0, {}},
                     std::nullopt, 0,
                     "the program no longer declares the endpoint " + request.method + " " + request.route + " on " +
                         id().str());
  }
  std::vector<Header> headers;
  for (const auto& [name, value] : request.headers) headers.push_back({name, value});
  const api_detail::HttpReply reply = state_->dispatch(*route, ctx, {request.target, request.body}, headers);
  return {reply.status, reply.body};
}

// ---- the server persona ----

namespace {
// Where the personas run decides the transport (snap/environment.h): a function call, or HTTP.
bool called_in_process(const App& app) {
  return app.environment().transport() == Environment::Transport::kInProcess;
}
}  // namespace

int ApiServer::serve(PersonaContext& ctx) {
  // The persona's own logger (snap/logging.h: its format, its trace ids); the server's
  // log_level, when set, overrides $SNAP_LOG_LEVEL for it.
  std::shared_ptr<spdlog::logger> logger = ctx.logger();
  if (!options_.log_level.empty()) logger->set_level(spdlog::level::from_str(options_.log_level));
  {
    // Before the HTTP server starts: its handler threads read state_->logger without the
    // mutex (starting a thread orders this write before their reads). So is the token a
    // bearer_token check compares with: read once, so that a missing secret stops the
    // server at its start rather than failing every request.
    std::lock_guard lock(state_->mutex);
    state_->logger = logger;
    if (state_->checked_token) state_->expected_token = state_->checked_token->value(ctx);
  }

  // Health and unknown routes are answered on the I/O thread; handlers run on the
  // handler pool (http_server.h).
  // /healthz and /metrics, each to whom it is for (builtin_routes.h). Prometheus'
  // scrape is the whole process's registry, written on the I/O thread (it only reads).
  const std::function<std::string()> exposition = [this] { return app().metrics().exposition(); };
  // The endpoints are frozen: made once, and only where HTTP can serve it.
  const std::string openapi_document = called_in_process(app()) ? std::string() : openapi();
  const auto route_http = [this, &exposition, &openapi_document](std::string_view method, std::string_view target,
                                                                 api_detail::Audience from) -> api_detail::Routing {
    const std::string_view path = target.substr(0, target.find('?'));
    if (auto reply = api_detail::answer_builtin(method, path, from, exposition, openapi_document)) {
      return {std::nullopt, std::move(*reply)};
    }
    const State::Route* route = state_->find(method, path);
    if (route == nullptr) {
      return {std::nullopt,
              {404, error_body(ErrorCode::kNotFound, "no endpoint " + std::string(method) + " " + std::string(path))}};
    }
    return {static_cast<std::size_t>(route - state_->routes.data()), {}};
  };
  const auto handle_http = [this, &ctx](std::size_t route, const api_detail::IncomingRequest& request) {
    if (std::optional<std::string> refusal = state_->skew_check->check(request.headers)) {
      api_detail::HttpReply reply{http_status(ErrorCode::kFailedPrecondition),
                                  error_body(ErrorCode::kFailedPrecondition, *refusal, api_detail::kVersionSkewReason)};
      reply.build = app().build_id();
      return reply;
    }
    const std::optional<SpanContext> caller = parse_traceparent(request.traceparent, request.tracestate);
    return state_->handle(state_->routes[route], ctx, {request.target, request.body}, request.headers,
                          caller ? &*caller : nullptr);
  };

  std::unique_ptr<api_detail::HttpServer> http;
  // Addresses beyond loopback, each found by a name (listen_addresses.h); they add to
  // `http`, so they are stopped first.
  std::vector<std::unique_ptr<api_detail::OwnNetworkListening>> also_listening;
  const auto listen_at = [&](const std::string& name, api_detail::Audience audience) {
    also_listening.push_back(std::make_unique<api_detail::OwnNetworkListening>(
        name, audience, *logger, api_detail::OwnNetworkListening::Timing{}));
    also_listening.back()->start(*http);
  };
  if (!called_in_process(app())) {
    const VersionSkew policy = api_detail::resolve_version_skew(
        options_.version_skew, app().env().variable(std::string(api_detail::kVersionSkewVariable)), id().str());
    state_->skew_check = std::make_unique<api_detail::VersionSkewCheck>(policy, app().build_id(), id().str(),
                                                                        state_->server_label, *state_->version_skew,
                                                                        *logger);
    http = std::make_unique<api_detail::HttpServer>(options_, *logger, api_detail::HttpRoutes{route_http, handle_http});
    // Loopback first (its healthcheck, and all of a local build); in a container, its own
    // network's address too, once found (listen_addresses.h).
    const std::string loopback(Environment::kLoopback);
    http->start({loopback}, port_->number());
    logger->info("listening on {} port {} ({} endpoints; build {}, version skew {})", loopback, port_->number(),
                 state_->routes.size(), app().build_id(), api_detail::to_string(policy));

    if (app().environment().listens_on_own_network()) {
      if (used_by_another_persona()) {
        listen_at(id().listen_name(), api_detail::Audience::kCallers);
      } else {
        logger->info("no persona uses this server: it listens on 127.0.0.1 only");
      }
      // `build --observability` names the server's address on its metrics network, and
      // `build --publish` its address on the network its published port leads to.
      for (const auto& [variable, audience] : {std::pair{kMetricsHostVariable, api_detail::Audience::kScraper},
                                               std::pair{kPublicHostVariable, api_detail::Audience::kCallers}}) {
        const auto host = app().env().variable(std::string(variable));
        if (host && !host->empty()) listen_at(*host, audience);
      }
    }
  }
  if (const EpisodeSink* episodes = app().episodes()) {
    logger->info("recording requests ({}) into {}", episodes->options().policy.str(),
                 episodes->options().directory.string());
  }
  {
    std::lock_guard lock(state_->mutex);
    state_->server_ctx = &ctx;
    state_->http = http.get();
    state_->stopped = false;
    state_->refuse_waiting = false;
  }
  state_->changed.notify_all();

  ctx.wait_for_stop();

  {
    std::unique_lock lock(state_->mutex);
    state_->stopped = true;
    state_->http = nullptr;
    // Dev: direct calls in flight run on their callers' threads with our context; let
    // them finish (bounded) before the context goes away.
    state_->changed.wait_for(lock, options_.stop_deadline, [&] { return state_->direct_calls == 0; });
    // Those still waiting for a handler are refused, as HTTP drops its queue at the deadline.
    state_->refuse_waiting = true;
  }
  state_->changed.notify_all();
  for (auto& listening : also_listening) listening->stop();
  if (http) {
    http->stop(options_.stop_deadline);
    logger->info("stopped");
  }
  {
    std::unique_lock lock(state_->mutex);
    state_->changed.wait(lock, [&] { return state_->direct_calls == 0; });
    state_->server_ctx = nullptr;
  }
  return 0;
}

bool ApiServer::used_by_another_persona() const {
  for (const Persona* p : app().personas()) {
    if (p == this) continue;
    const std::vector<const Component*> reached = app().reachable_from(*p);
    if (std::find(reached.begin(), reached.end(), this) != reached.end()) return true;
  }
  return false;
}

bool ApiServer::healthy(PersonaContext&) const {
  if (called_in_process(app())) {  // no socket: healthy while the body runs
    std::lock_guard lock(state_->mutex);
    return state_->server_ctx != nullptr && !state_->stopped;
  }
  return probe_health();
}

bool ApiServer::probe_health(std::chrono::milliseconds timeout) const {
  api_detail::ClientPool probe(std::string(Environment::kLoopback), port_->number(), {timeout, timeout, timeout});
  const auto result = probe.exchange("GET", kHealthPath, "");
  return result.failure == api_detail::Failure::kNone && result.response.status == 200;
}

// ---- calls ----

namespace {

// The caller's side of a reply, for both transports: a success body, or the ApiError
// the error body describes.
std::string finish(const ApiServer& server, std::size_t route, int status, std::string body) {
  if (status == 200 || status == 204) return body;
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (!ec) throw_if_error_object(&parsed);
  // Not our error format (a proxy's page, a future code): keep the status's meaning.
  throw ApiError(error_code_for_status(status), "HTTP " + std::to_string(status) + " from " +
                                                    server.describe_route(route) + ": " + body.substr(0, 200));
}

}  // namespace

std::string ApiServer::call(const PersonaContext& caller, std::size_t route, api_detail::WireRequest request,
                            std::source_location where) const {
  caller.require_uses(*this, where);
  // The caller's token is read once per process, not per request: no episode's input (and
  // a replayed request sends nothing, so it needs none).
  Episode* episode = current_episode();
  static const std::string kNoAuthorization;
  const std::string& authorization = [&]() -> const std::string& {
    if (episode != nullptr && episode->replaying()) return kNoAuthorization;
    SuspendEpisode outside;
    return authorization_for(caller, where);
  }();
  const State::Route& r = state_->routes.at(route);
  PersonaSpan client(caller, r.span_name, SpanKind::kClient);
  Span& span = client.span();
  if (span.recording()) {
    span.set("http.request.method", r.method).set("http.route", r.path);
    span.set("url.path", std::string_view(request.target).substr(0, request.target.find('?')));
    span.set("server.address", host());
    span.set("server.port", static_cast<std::int64_t>(port_->number()));
  }
  const auto started = std::chrono::steady_clock::now();
  const auto count = [&](std::string_view outcome) {
    r.called_seconds.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    state_->calls->with({state_->server_label, r.span_name, outcome}).inc();
  };
  try {
    std::string response;
    if (Episode* episode = current_episode()) {
      // A call made while handling a recorded request is one of its inputs: its response
      // (or error) is kept, and replay answers with it without calling anyone.
      response = call_result(episode->membrane().operation(
          "endpoint.call", r.span_name + " (" + id().str() + ")", request.target + "\n" + request.body, [&] {
            SuspendEpisode outside;  // the server's own handling is its own episode
            return call_outcome([&] { return call_untraced(caller, route, request, authorization); });
          }, where));
    } else {
      response = call_untraced(caller, route, request, authorization);
    }
    count("ok");
    return response;
  } catch (const ApiError& e) {
    count(to_string(e.code()));
    // Any failed call is an error for the caller (a 4xx too: the semantic conventions'
    // rule for client spans).
    span.set("snap.error_code", to_string(e.code()));
    span.set_error(e.what());
    throw;
  }
}

std::string ApiServer::call_untraced(const PersonaContext& caller, std::size_t route,
                                    const api_detail::WireRequest& request, std::string_view authorization) const {
  const State::Route& r = state_->routes.at(route);
  const auto give_up_at = std::chrono::steady_clock::now() + options_.wait_for_server;
  // The client span's context, for the server to continue the trace.
  const SpanContext* trace = current_span_context();
  const std::string traceparent = trace != nullptr && trace->valid() ? traceparent_of(*trace) : std::string();
  const std::string_view tracestate = trace != nullptr ? std::string_view(trace->trace_state) : std::string_view();

  if (called_in_process(app())) {
    PersonaContext* server_ctx = nullptr;
    {
      std::unique_lock lock(state_->mutex);
      // Bounded waits in slices, so that a caller asked to stop does not wait on.
      while (state_->server_ctx == nullptr || state_->stopped) {
        if (caller.stop_requested() || std::chrono::steady_clock::now() >= give_up_at) {
          throw ApiError(ErrorCode::kUnavailable,
                         describe_route(route) + ": the server persona " +
                             (state_->stopped ? std::string("has stopped") : "did not start within " +
                                                                                std::to_string(options_.wait_for_server.count()) + " ms"));
        }
        state_->changed.wait_for(lock, std::chrono::milliseconds(50));
      }
      server_ctx = state_->server_ctx;
      ++state_->direct_calls;  // from here, waiting included: the stop waits for it
      // The handler pool's limits hold in dev too (dev behaves as deployed): at most
      // handler_threads handlers at once, handler_queue callers waiting, then
      // resource_exhausted. The handler still runs on the caller's thread.
      if (state_->direct_running >= options_.handler_threads) {
        const auto refuse = [&](ErrorCode code, const std::string& message) {
          --state_->direct_calls;
          state_->changed.notify_all();
          throw ApiError(code, message);
        };
        if (state_->direct_waiting >= options_.handler_queue) {
          refuse(ErrorCode::kResourceExhausted, api_detail::handlers_busy_message(options_));
        }
        ++state_->direct_waiting;
        state_->changed.wait(lock, [&] {
          return state_->direct_running < options_.handler_threads || state_->refuse_waiting;
        });
        --state_->direct_waiting;
        if (state_->direct_running >= options_.handler_threads) {
          refuse(ErrorCode::kUnavailable, describe_route(route) + ": the server persona has stopped");
        }
      }
      ++state_->direct_running;
    }
    // The same encoding as HTTP both ways: the request was serialized by the Endpoint,
    // the handler parses it; the response is serialized here and parsed by the Endpoint.
    // The same headers too: those ClientPool::exchange sends, in its order (Beast adds
    // Content-Length to a request with a body, and to any POST or PUT).
    const std::string host_name = host();
    const std::string content_length = std::to_string(request.body.size());
    std::array<Header, 7> headers;
    std::size_t count = 0;
    headers[count++] = {"Host", host_name};
    if (!request.body.empty()) headers[count++] = {"Content-Type", "application/json"};
    if (!traceparent.empty()) headers[count++] = {"traceparent", traceparent};
    if (!tracestate.empty()) headers[count++] = {"tracestate", tracestate};
    if (!authorization.empty()) headers[count++] = {"Authorization", authorization};
    headers[count++] = {api_detail::kBuildHeader, app().build_id()};  // one build: always this one
    if (!request.body.empty() || r.method == "POST" || r.method == "PUT") {
      headers[count++] = {"Content-Length", content_length};
    }
    api_detail::HttpReply reply = state_->handle(r, *server_ctx, {request.target, request.body},
                                                 std::span<const Header>(headers.data(), count), nullptr);
    {
      std::lock_guard lock(state_->mutex);
      --state_->direct_calls;
      --state_->direct_running;
    }
    state_->changed.notify_all();
    caller.span().set("http.response.status_code", reply.status);
    return finish(*this, route, reply.status, std::move(reply.body));
  }

  std::call_once(state_->pool_once, [&] {
    state_->pool = std::make_unique<api_detail::ClientPool>(
        host(), port_->number(),
        api_detail::ClientTimeouts{options_.connect_timeout, options_.response_timeout, options_.request_timeout / 2},
        api_detail::Resolver{}, app().env());
  });
  api_detail::ClientPool& pool = *state_->pool;
  const std::string& build = app().build_id();
  // The pause before the next attempt, with backoff; or why there is none.
  enum class Wait { kRetry, kOutOfTime, kStopping };
  auto backoff = kFirstBackoff;
  const auto wait_to_retry = [&] {
    if (std::chrono::steady_clock::now() + backoff >= give_up_at) return Wait::kOutOfTime;
    if (caller.wait_for_stop(backoff)) return Wait::kStopping;
    backoff = std::min(backoff * 2, kMaxBackoff);
    return Wait::kRetry;
  };
  for (int attempt = 1;; ++attempt) {
    api_detail::Exchange x =
        pool.exchange(r.method, request.target, request.body, traceparent, tracestate, authorization, build);
    using api_detail::Failure;
    for (const std::string& other : x.refused_by) {
      caller.log().info("{}: refused by a replica of build {} (version skew; this is build {}); {}",
                        describe_route(route), printable(other), build,
                        x.refused() ? "no replica of this build answered yet" : "retried on another replica");
    }
    if (x.refused()) {
      // Every replica that answered runs another build: mid rolling update, those of this
      // build may be starting or already gone. The refused call ran nowhere, so it is
      // asked again, with backoff, until one answers or wait_for_server runs out.
      pool.resolve_again();
      if (wait_to_retry() == Wait::kRetry) continue;
      caller.span().set("http.response.status_code", x.response.status);
      return finish(*this, route, x.response.status, std::move(x.response.body));
    }
    if (x.failure == Failure::kNone) {
      caller.span().set("http.response.status_code", x.response.status);
      return finish(*this, route, x.response.status, std::move(x.response.body));
    }
    const bool retry = x.failure == Failure::kConnect || x.failure == Failure::kBeforeSent || r.options.idempotent;
    const std::string where = describe_route(route) + " at " + pool.host() + ":" + std::to_string(pool.port());
    if (!retry) {
      if (x.failure == Failure::kTimeout) {
        throw ApiError(ErrorCode::kDeadlineExceeded,
                       where + ": no response within " + std::to_string(options_.response_timeout.count()) +
                           " ms (not retried: the endpoint is not idempotent)");
      }
      throw ApiError(ErrorCode::kUnavailable, where + ": connection lost after the request was sent (" +
                                                  x.error.message() + "); not retried: the endpoint is not idempotent");
    }
    // A broken pooled connection is retried at once on a fresh one; a server that
    // cannot be reached is waited for, with backoff.
    if (x.failure == Failure::kBeforeSent && attempt == 1) continue;
    const Wait wait = wait_to_retry();
    if (wait == Wait::kRetry) continue;
    // Say which: a caller cut short by its own stop did not wait wait_for_server.
    throw ApiError(ErrorCode::kUnavailable,
                   where + ": " + x.error.message() +
                       (wait == Wait::kOutOfTime ? " (gave up after " + std::to_string(attempt) + " attempts in " +
                                                       std::to_string(options_.wait_for_server.count()) + " ms)"
                                                 : " (not retried further: the calling persona is stopping; " +
                                                       std::to_string(attempt) +
                                                       (attempt == 1 ? " attempt)" : " attempts)")));
  }
}

}  // namespace snap
