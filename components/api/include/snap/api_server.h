// ApiServer: an HTTP server persona whose endpoints are typed functions other personas
// call. Declared at startup; `endpoint(...)` returns the client function:
//
//   struct Customer { std::string id; std::string name; };
//   BOOST_DESCRIBE_STRUCT(Customer, (), (id, name))
//
//   auto& server = app.add<snap::ApiServer>("api");
//   auto& db = server.add<snap::KeyValueStore>("db");
//   server.uses(db);
//   snap::Endpoint<Customer, void> post = server.endpoint<Customer, void>(
//       "POST", "/api/customer", [&db](snap::PersonaContext& ctx, const Customer& c) {
//         db.open(ctx).set(c.id, snap::to_json(c));
//       });
//   app.add<snap::Persona>("client", snap::PersonaKind::kCommand, [post](snap::PersonaContext& ctx) {
//     post(ctx, Customer{"1", "John Doe"});     // direct in dev, HTTP when deployed
//     return 0;
//   }).uses(server);
//
// An Endpoint is a small value (the server's address and a route index): copy it into
// any body. Calling it from a persona that does not `use` the server throws UsesError,
// in dev and run alike. Requests and responses are JSON (snap/json_struct.h): a
// `{name}` path segment is the request's field `name`, a GET or DELETE sends its other
// fields as the query string, a POST, PUT or PATCH its request as the body; `void`
// responses are 204 with no body; endpoints without a request (Endpoint<void, Res>)
// send none.
// A handler's ApiError reaches the caller as the same ApiError (snap/api_error.h). A
// handler reads its request's headers and principal as ctx.request() (snap/request.h);
// authenticate() checks every caller first, and the program's own callers send their
// credentials (snap/api_auth.h).
//
// Transport by mode (docs/api.md):
//  - dev: a direct call on the caller's thread, through the same JSON encoding both
//    ways; the handler gets the server persona's context. Waits (up to
//    `wait_for_server`) for the server persona's body to start. No socket is opened.
//    The handler limits (`handler_threads`, `handler_queue`) hold as they do over HTTP.
//  - run: HTTP/1.1 to app.environment().host_of(server):port, keep-alive connections pooled per
//    server; connection failures are retried with backoff for up to `wait_for_server`
//    (a client started before its server waits for it), then `unavailable`.
//
// Thread safety: endpoint() and the constructor run at startup (one thread). Calling an
// Endpoint is safe from any number of threads at once; handlers run concurrently (up to
// `handler_threads` at once, on the server's threads; in dev, on the callers' threads)
// and must be thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <source_location>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/describe.hpp>
#include <boost/json/value.hpp>
#include <boost/mp11/algorithm.hpp>

#include "snap/api_auth.h"
#include "snap/api_error.h"
#include "snap/json_schema.h"
#include "snap/json_struct.h"
#include "snap/persona.h"
#include "snap/port.h"
#include "snap/request.h"

namespace snap {

// What a server does with a call from another build of the program (docs/api.md,
// "Version skew"): every typed call over HTTP carries its caller's build id.
enum class VersionSkew {
  // What the deployment says ($SNAP_VERSION_SKEW: strict in the swarm stack and on
  // Kubernetes, warn with docker-compose and local builds), else warn.
  kByDeployment,
  // Refused with failed_precondition, reason "version_skew", naming both builds; the
  // handler does not run, and the program's typed caller tries another replica (and
  // waits for one of its own build, up to wait_for_server) before it fails.
  kStrict,
  // Served; counted (snap_http_server_version_skew_total) and logged once per peer build.
  kWarn,
};

// Per-server settings. Limits protect the server from its clients; each has the reason
// beside it. Client-side settings apply to every caller of this server's endpoints.
struct ApiServerOptions {
  // Largest request body; larger is refused with 413 before it is read. Default 1 MiB:
  // typed JSON requests are small, and a body is held in memory while it is parsed.
  std::size_t body_limit = 1 << 20;
  // Bytes of request bodies held at once over all connections: a body's Content-Length
  // is taken from it before the body is read (a chunked body's bytes as they arrive) and
  // given back once its request has been handled. A request that does not fit is refused
  // with 503 resource_exhausted (Retry-After: 1) and its connection closed; one that
  // holds it for long is cut off by request_timeout. Default 64 MiB: 64 bodies at the
  // default body_limit, where max_connections x body_limit would be 4 GiB. At least
  // body_limit.
  std::size_t body_budget = 64 << 20;
  // Largest request line + headers; larger is 431. 16 KiB holds any real client's
  // headers (cookies included) and bounds what one connection can make us buffer.
  std::size_t header_limit = 16 * 1024;
  // Time from accepting a connection (or finishing the previous response on it) until a
  // whole request has arrived; then the connection is closed. One clock for idle
  // keep-alive connections and for slowloris clients that trickle a request in.
  std::chrono::milliseconds request_timeout{15'000};
  // Time allowed to write one response to a client that does not read it.
  std::chrono::milliseconds write_timeout{15'000};
  // (Both deadlines are enforced by one sweep over the connections every quarter of the
  // shorter one, not by a timer per read and write: a connection is closed at most 25%
  // late, and requests do not pay for re-arming timers.)
  // Connections held at once. Each one costs a descriptor and a buffer; the default stays
  // well inside a default 20k-descriptor limit. At the cap a new connection takes the
  // place of the one that has waited longest for a request with nothing received (idle
  // keep-alive, or connected and silent), as nginx reuses its idle connections: holding
  // idle connections cannot keep other clients out. Only when none is idle (all busy with
  // a request) is the new connection closed at once.
  std::size_t max_connections = 4096;
  // Connections held at once from one peer address, the same way: beyond it the peer's
  // own oldest idle connection makes room, or the new one is closed. It keeps one client
  // whose connections are all busy (requests trickling in) from taking every connection.
  // 0: half of max_connections, so that a proxy, a NAT or every persona of a local build
  // sharing one address still gets as many connections as most servers ever hold.
  std::size_t max_connections_per_peer = 0;
  // Graceful stop: after it stops accepting, the server lets requests in flight finish
  // for at most this long, then closes what is left.
  std::chrono::milliseconds stop_deadline{10'000};
  // I/O threads: they read, route and write requests and answer /healthz; a handler that
  // blocks never holds one for more than 5 ms (see handler_threads). 0: the number of
  // CPUs, at least 2.
  unsigned threads = 0;
  // Handlers that may run at once; they may block (a store call waiting on its database).
  // A handler runs on the I/O thread that read its request (a quick one costs no
  // hand-off); once it has run for 5 ms one of this many spare threads takes over that
  // thread's I/O, so `threads` threads keep serving however many handlers block. 16 is
  // twice a store's default pool of 8 connections: handlers not waiting on the store
  // keep going while those that wait hold their threads. Must be > 0.
  unsigned handler_threads = 16;
  // Requests waiting for a handler thread when all are busy. One more is refused at once
  // with resource_exhausted (HTTP 429; its handler did not run) rather than left waiting
  // with no bound. A waiting request holds its body (up to body_limit) in memory. 0: none
  // wait. The same limits hold for dev's direct calls.
  std::size_t handler_queue = 128;

  // Client side: one TCP connect attempt, and one lookup of the server's name (a DNS
  // server that does not answer would otherwise hold a call for 10 s).
  std::chrono::milliseconds connect_timeout{2'000};
  // Client side: from sending a request to having the whole response; then the call
  // fails with deadline_exceeded (the handler may have run, so it is not retried
  // unless the endpoint is idempotent).
  std::chrono::milliseconds response_timeout{30'000};
  // Client side: how long a call keeps retrying while the server cannot be reached
  // (refused, unreachable, not resolvable; in dev: the server's body has not started).
  // Backoff 25 ms doubling to 1 s. Then the call fails with `unavailable`.
  std::chrono::milliseconds wait_for_server{30'000};

  // spdlog level name ("trace", "debug", "info", "warn", "error", "off"); empty: the
  // server persona's $SNAP_LOG_LEVEL at runtime, else "info".
  std::string log_level;

  // Calls from another build (above). Calls with no build id -- from outside the
  // program -- are always served.
  VersionSkew version_skew = VersionSkew::kByDeployment;
};

// Rewrites a request or response, as JSON text, before an episode keeps it (never what
// the handler sees or the caller gets): made by snap::redact<T> below.
using Redaction = std::function<std::string(std::string_view json)>;

struct EndpointOptions {
  // Safe to run twice: the client may then retry after a failure that happened once the
  // request was sent (a connection reset, a timeout). Off by default: a POST that
  // created a record must not create it twice.
  bool idempotent = false;
  // Runtime episodes (docs/episodes.md): false keeps every request to this endpoint out of
  // recording, whatever the policy.
  bool record = true;
  // What an episode keeps of the request (its fields, wherever they travel: path, query
  // or body) and of the response: snap::redact<Req>(...) / snap::redact<Res>(...). A
  // replay then runs the handler on the redacted request.
  Redaction redact_request;
  Redaction redact_response;
};

// A Redaction that edits a T: `edit(T&)` blanks what an episode must not keep.
//   server.endpoint<Customer, void>("POST", "/api/customer", handler,
//       snap::EndpointOptions{.redact_request = snap::redact<Customer>([](Customer& c) { c.name = "(redacted)"; })});
// Text that is not a T is replaced by "{}": what cannot be read cannot be redacted.
template <typename T, typename Edit>
Redaction redact(Edit edit) {
  return [edit = std::move(edit)](std::string_view json) -> std::string {
    try {
      T value = decode_json<T>(json);
      edit(value);
      return encode_json(value);
    } catch (const JsonError&) {
      return "{}";
    }
  };
}

class ApiServer;

namespace api_detail {
struct RawCall;  // components/api/src/raw_call.h
// A request with no body (Endpoint<void, Res>).
struct NoRequest {};

// What binding needs to know of a request type: whether it is a described struct, and
// the JSON kind of each field (an optional field has its value's kind).
enum class FieldKind { kString, kInteger, kUnsigned, kNumber, kBoolean, kOther };
struct RequestField {
  std::string name;
  FieldKind kind;
};
struct RequestType {
  enum Kind { kNone, kStruct, kOther } kind = kNone;  // kNone: Endpoint<void, Res>
  std::vector<RequestField> fields;                    // kStruct: in declaration order
  ShapeOf schema = nullptr;                            // its JSON (snap/json_schema.h); null for kNone
};

// A type's JSON shape, null for void (a void response has no body).
template <typename T>
constexpr ShapeOf shape_or_null() {
  if constexpr (std::is_void_v<T>) {
    return nullptr;
  } else {
    return &shape_of<T>;
  }
}

template <typename T>
constexpr FieldKind field_kind() {
  if constexpr (json_detail::is_optional<T>::value) {
    return field_kind<typename T::value_type>();
  } else if constexpr (std::is_same_v<T, bool>) {
    return FieldKind::kBoolean;
  } else if constexpr (std::is_integral_v<T>) {
    return std::is_signed_v<T> ? FieldKind::kInteger : FieldKind::kUnsigned;
  } else if constexpr (std::is_floating_point_v<T>) {
    return FieldKind::kNumber;
  } else if constexpr (std::is_same_v<T, std::string>) {
    return FieldKind::kString;
  } else {
    return FieldKind::kOther;
  }
}

template <typename Req>
RequestType request_type() {
  RequestType type;
  type.schema = shape_or_null<Req>();
  if constexpr (std::is_void_v<Req>) {
    type.kind = RequestType::kNone;
  } else if constexpr (json_detail::is_described_struct<Req>) {
    type.kind = RequestType::kStruct;
    boost::mp11::mp_for_each<boost::describe::describe_members<Req, boost::describe::mod_public>>([&](auto member) {
      using Field = std::remove_cvref_t<decltype(std::declval<const Req&>().*member.pointer)>;
      type.fields.push_back({member.name, field_kind<Field>()});
    });
  } else {
    type.kind = RequestType::kOther;
  }
  return type;
}

// A route as binding sees it (route_binding.cc): its method, path template and request type.
struct RouteShape;
// The request as it travels: the target (path, and a query string for GET and DELETE)
// and the body.
struct WireRequest {
  std::string target;
  std::string body;
};
// The request as the server received it, views valid while its handler runs.
struct RequestText {
  std::string_view target;
  std::string_view body;
};
// True when the request is the body alone: a POST, PUT or PATCH without path parameters
// (what every route was before parameters; decoded straight from the body).
bool body_only(const RouteShape& shape);
// The JSON document a request binds to: the body's object, the query's fields (GET and
// DELETE), the path's parameters, each text converted to its field's kind. Throws
// JsonError naming the field ("$.id: expected integer, got \"abc\"").
boost::json::value bind_request(const RouteShape& shape, const RequestText& request);

// A route's handler with the types erased: the request in, response body out ("" for
// void); throws what the user's handler throws, or ApiError for a request that does not
// decode.
using RouteHandler =
    std::function<std::string(PersonaContext& server, const RouteShape& shape, const RequestText& request)>;

template <typename Req>
Req decode_request(const RouteShape& shape, const RequestText& request);
template <typename Res>
Res decode_response(const ApiServer& server, std::size_t route, const std::string& body);
}  // namespace api_detail

// A typed client function for one endpoint. Cheap to copy; valid as long as the app.
template <typename Req, typename Res>
class Endpoint {
  using Arg = std::conditional_t<std::is_void_v<Req>, api_detail::NoRequest, Req>;

 public:
  Endpoint() = default;  // bound to nothing; calling it is a std::logic_error

  // The call, from a persona body: `caller` is that body's context. Throws ApiError
  // (the handler's, or unavailable / deadline_exceeded / internal from the transport)
  // and UsesError when the caller's persona does not use the server.
  template <typename R = Req>
    requires(!std::is_void_v<R>)
  Res operator()(const PersonaContext& caller, const Arg& request,
                 std::source_location where = std::source_location::current()) const {
    return finish(call_raw(caller, &request, where));
  }
  template <typename R = Req>
    requires std::is_void_v<R>
  Res operator()(const PersonaContext& caller, std::source_location where = std::source_location::current()) const {
    return finish(call_raw(caller, nullptr, where));
  }

  const ApiServer& server() const { return *server_; }
  std::size_t route() const { return route_; }

 private:
  friend class ApiServer;
  Endpoint(const ApiServer* server, std::size_t route) : server_(server), route_(route) {}
  std::string call_raw(const PersonaContext& caller, const Arg* request, std::source_location where) const;
  Res finish(const std::string& body) const {
    if constexpr (!std::is_void_v<Res>) return api_detail::decode_response<Res>(*server_, route_, body);
  }

  const ApiServer* server_ = nullptr;  // owned by the app
  std::size_t route_ = 0;
};

class ApiServer final : public Persona {
 public:
  explicit ApiServer(const Init& init, ApiServerOptions options = {});
  ~ApiServer() override;

  // Declares `method` `path` at startup and returns its client function. `handler` is
  // one of  Res(PersonaContext&, const Req&)  Res(const Req&)  (or, for Req = void,
  // Res(PersonaContext&)  Res()); its PersonaContext is the server persona's, to open
  // what the server uses. Methods: GET POST PUT PATCH DELETE. Paths start with '/';
  // "/healthz", "/metrics" and "/openapi.json" are the server's own.
  //
  // How a request travels (docs/api.md, "Routes"): a path segment `{name}` is the
  // request's field `name` ("/api/customer/{id}"); a GET or DELETE sends its other fields
  // as the query string (so they must be strings, numbers or booleans, optional or not);
  // a POST, PUT or PATCH sends the request as its JSON body. Throws
  // std::invalid_argument naming the endpoint (and the field) for a bad method or path, a
  // duplicate route, a path parameter the request has no scalar field for, or a GET or
  // DELETE request that cannot be a query string, and for an operationId or a schema name
  // its OpenAPI description would hold twice (docs/api.md, "OpenAPI"); PhaseError after
  // startup.
  template <typename Req, typename Res, typename Handler>
  Endpoint<Req, Res> endpoint(std::string_view method, std::string_view path, Handler handler,
                              EndpointOptions options = {});

  // Authentication (docs/api.md, "Authentication"): checked for every request to an
  // endpoint, before its request is bound and its handler runs; not for /healthz and
  // /metrics. A failure is answered in the error format: unauthenticated (401, with
  // `WWW-Authenticate: Bearer`) or permission_denied (403). At most one per server, at
  // startup (std::invalid_argument for a second; PhaseError after startup).
  //
  // A bearer token: the request's `Authorization: Bearer TOKEN` must be the secret's
  // value (compared in constant time); the principal's subject is the secret's name. The
  // server uses the secret, and the program's own typed callers send it: a caller
  // persona must use it too (a call from one that does not throws UsesError).
  ApiServer& authenticate(BearerToken token);
  // A hook: Principal(const RequestInfo&) or Principal(PersonaContext& server, const
  // RequestInfo&) (the server persona's context, to open what the server uses). It
  // returns who the caller is (handlers read it as ctx.request().principal()) or throws
  // ApiError, unauthenticated or permission_denied; any other error is answered as a
  // handler's would be. It runs concurrently, on the handlers' threads. The program's
  // typed callers send what credentials() says (nothing when it is not declared).
  template <typename Hook>
    requires std::is_invocable_r_v<Principal, const Hook&, const RequestInfo&> ||
             std::is_invocable_r_v<Principal, const Hook&, PersonaContext&, const RequestInfo&>
  ApiServer& authenticate(Hook hook);
  // What every typed call from this program's personas to this server sends:
  // `Authorization: Bearer <token>`, read from the caller persona's own secrets, so
  // each caller must use the token's secret. For servers that authenticate with a
  // hook; a server that checks a bearer token has its callers send that one already
  // (declaring it again is std::invalid_argument).
  ApiServer& credentials(BearerToken token);

  // Makes the server reachable from outside the system on `host_port` of the deployment's
  // host: what `build --publish SERVER=PORT` does (docs/deploy.md, "Published ports"), which
  // overrides this port for the same server. At startup; std::invalid_argument for port 0
  // or a second call.
  ApiServer& publish(std::uint16_t host_port);

  // The port it listens on (a child component: `uses(server)` reaches it).
  const Port& port() const { return *port_; }
  const ApiServerOptions& options() const { return options_; }
  // {"port": N, "endpoints": [{"method","path","idempotent"}...], "limits": {...}}; see docs/api.md.
  boost::json::object config() const override;

  // Probes GET /healthz on this server's port on this machine: true on 200 within
  // `timeout`. healthy() is what `APP health PERSONA` runs as a container healthcheck.
  bool healthy(PersonaContext& ctx) const override;
  bool probe_health(std::chrono::milliseconds timeout = std::chrono::milliseconds(2'000)) const;
  // The host clients reach this server at: "127.0.0.1" for dev and local builds;
  // deployed in containers, `id().listen_name()` ("listen.SERVICE"), the name deployment
  // gives its address on its own network. It listens on 127.0.0.1, and in a container
  // on that address too (docs/api.md, "run").
  std::string host() const;

  // "POST /api/customer", for messages.
  std::string describe_route(std::size_t route) const;

  // Its OpenAPI 3.1 document (docs/api.md, "OpenAPI"): what GET /openapi.json serves
  // and `build` writes to DIR/openapi/SERVICE.json.
  std::string openapi() const;

  // Handles a recorded request again (snap/episode.h): the route it was recorded on,
  // its recorded inputs; what `APP replay EPISODE` runs.
  EpisodeResponse replay_request(PersonaContext& ctx, const EpisodeRequest& request) const override;

 private:
  struct State;
  template <typename Req, typename Res>
  friend class Endpoint;
  friend struct api_detail::RawCall;  // tests: a body that no typed caller could send
  using AuthHook = std::function<Principal(PersonaContext& server, const RequestInfo& request)>;
  void set_authentication(AuthHook hook, const BearerToken* token);
  // The Authorization header value `caller` sends to this server ("Bearer ..."), empty
  // when it sends none. Throws UsesError naming the secret when the caller must send a
  // token it does not use.
  const std::string& authorization_for(const PersonaContext& caller, std::source_location where) const;
  // The transport under Endpoint::operator(): checks `uses` (naming `where` in the
  // UsesError), sends `body` (JSON text, not checked here) to the route, returns the
  // response body; throws ApiError for an error response.
  // The call is a client span (snap/trace.h) whose context travels with the request.
  std::string call(const PersonaContext& caller, std::size_t route, api_detail::WireRequest request,
                   std::source_location where) const;
  std::string call_untraced(const PersonaContext& caller, std::size_t route, const api_detail::WireRequest& request,
                            std::string_view authorization) const;
  std::size_t add_route(std::string_view method, std::string_view path, EndpointOptions options,
                        api_detail::RequestType request, api_detail::RouteHandler handler,
                        ShapeOf response = nullptr);
  // The route's shape, for the Endpoint's side of binding.
  const api_detail::RouteShape& shape(std::size_t route) const;
  // A request of this route as it travels (route_binding.cc: path parameters substituted,
  // GET/DELETE fields as the query string, others as the body). Throws ApiError
  // invalid_argument for a path parameter with no value.
  api_detail::WireRequest render(std::size_t route, const boost::json::value& request) const;
  int serve(PersonaContext& ctx);
  bool used_by_another_persona() const;

  ApiServerOptions options_;
  Port* port_;
  std::unique_ptr<State> state_;
};

// ---- implementation ----

namespace api_detail {

// The request as the server reads it: a request that does not fit is the caller's error
// ("request body: $.name: missing" for a body-only route, "request: ..." for one whose
// fields come from the path or the query too).
[[noreturn]] void throw_bad_request(const JsonError& e, bool body_only = true);
// A handler's result that has no JSON form (a NaN or an infinity): the server's fault.
[[noreturn]] void throw_unencodable_response(const JsonError& e);
[[noreturn]] void throw_bad_response(const ApiServer& server, std::size_t route, const JsonError& e);

template <typename Req>
Req decode_request(const RouteShape& shape, const RequestText& request) {
  const bool only_body = body_only(shape);
  try {
    if (only_body) return decode_json<Req>(request.body);
    return from_json<Req>(bind_request(shape, request));
  } catch (const JsonError& e) {
    throw_bad_request(e, only_body);
  }
}

template <typename Res>
Res decode_response(const ApiServer& server, std::size_t route, const std::string& body) {
  try {
    return decode_json<Res>(body);
  } catch (const JsonError& e) {
    throw_bad_response(server, route, e);
  }
}

template <typename Req, typename Res, typename Handler>
RouteHandler erase(Handler handler) {
  return [handler = std::move(handler)](PersonaContext& ctx, const RouteShape& shape,
                                        const RequestText& text) -> std::string {
    auto invoke = [&]() -> decltype(auto) {
      if constexpr (std::is_void_v<Req>) {
        if constexpr (std::is_invocable_v<const Handler&, PersonaContext&>) {
          return handler(ctx);
        } else {
          static_assert(std::is_invocable_v<const Handler&>,
                        "ApiServer::endpoint<void, Res>: handler must be Res(PersonaContext&) or Res()");
          return handler();
        }
      } else {
        const Req request = decode_request<Req>(shape, text);
        if constexpr (std::is_invocable_v<const Handler&, PersonaContext&, const Req&>) {
          return handler(ctx, request);
        } else {
          static_assert(std::is_invocable_v<const Handler&, const Req&>,
                        "ApiServer::endpoint<Req, Res>: handler must be Res(PersonaContext&, const Req&) or "
                        "Res(const Req&)");
          return handler(request);
        }
      }
    };
    if constexpr (std::is_void_v<Res>) {
      invoke();
      return std::string();
    } else {
      auto&& response = invoke();
      try {
        return encode_json<Res>(response);
      } catch (const JsonError& e) {
        throw_unencodable_response(e);
      }
    }
  };
}

}  // namespace api_detail

template <typename Hook>
  requires std::is_invocable_r_v<Principal, const Hook&, const RequestInfo&> ||
           std::is_invocable_r_v<Principal, const Hook&, PersonaContext&, const RequestInfo&>
ApiServer& ApiServer::authenticate(Hook hook) {
  if constexpr (std::is_invocable_r_v<Principal, const Hook&, PersonaContext&, const RequestInfo&>) {
    set_authentication(std::move(hook), nullptr);
  } else {
    set_authentication([hook = std::move(hook)](PersonaContext&, const RequestInfo& request) { return hook(request); },
                       nullptr);
  }
  return *this;
}

template <typename Req, typename Res, typename Handler>
Endpoint<Req, Res> ApiServer::endpoint(std::string_view method, std::string_view path, Handler handler,
                                       EndpointOptions options) {
  const std::size_t route = add_route(method, path, options, api_detail::request_type<Req>(),
                                      api_detail::erase<Req, Res, Handler>(std::move(handler)),
                                      api_detail::shape_or_null<Res>());
  return Endpoint<Req, Res>(this, route);
}

template <typename Req, typename Res>
std::string Endpoint<Req, Res>::call_raw(const PersonaContext& caller, const Arg* request,
                                         std::source_location where) const {
  if (server_ == nullptr) throw std::logic_error("snap::Endpoint: called an endpoint that was never declared");
  api_detail::WireRequest wire;
  if constexpr (std::is_void_v<Req>) {
    wire = server_->render(route_, boost::json::value());
  } else if (api_detail::body_only(server_->shape(route_))) {
    wire = server_->render(route_, boost::json::value());  // the target alone
    wire.body = encode_json(*request);
  } else {
    wire = server_->render(route_, to_json(*request));
  }
  return server_->call(caller, route_, std::move(wire), where);
}

}  // namespace snap
