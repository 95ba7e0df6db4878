// RequestInfo: the request a handler is answering -- its method, path, headers and the
// principal the server's authentication found -- read through the handler's context:
//
//   api.endpoint<void, std::string>("GET", "/whoami", [](snap::PersonaContext& ctx) {
//     const snap::RequestInfo& request = ctx.request();
//     const std::string agent(request.header("user-agent").value_or("?"));  // case-insensitive
//     const snap::Principal* who = request.principal();                       // set by authenticate()
//     return (who ? who->subject : std::string("anonymous")) + " via " + agent;
//   });
//
// The same request a deployed call carries is seen in dev, where the call is direct: the
// headers the HTTP client would send (Host, Content-Type, traceparent, Authorization...).
// Principal is what an authentication hook (ApiServer::authenticate) says the caller is.
//
// Thread safety: a RequestInfo is a view of one request, valid while its handler runs,
// and read only on the thread that runs the handler (where ctx.request() finds it).
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace snap {

class PersonaContext;

// Who made a request, as the server's authentication established it.
struct Principal {
  // Who: a user id, a service's name. ApiServer's bearer_token check names the secret
  // whose token was presented ("api-key").
  std::string subject;
  // What else the hook found (a tenant, a role), for handlers to decide on.
  std::map<std::string, std::string> attributes;
};

// One request header, as received: the name as the caller spelled it.
struct Header {
  std::string_view name;
  std::string_view value;
};

class RequestInfo {
 public:
  // Views: `target`, `headers` and `principal` must outlive the RequestInfo.
  RequestInfo(std::string_view method, std::string_view target, std::span<const Header> headers,
              const Principal* principal = nullptr)
      : method_(method), target_(target), headers_(headers), principal_(principal) {}

  // The route's method ("GET"; a HEAD request is answered as GET).
  std::string_view method() const { return method_; }
  // The path as sent, still percent-encoded ("/api/items/shoe%201"), without the query.
  std::string_view path() const { return target_.substr(0, target_.find('?')); }
  // The query string after '?', as sent; empty when there is none.
  std::string_view query() const;
  // The first header named `name`, compared without regard to case (HTTP field names
  // are case-insensitive); nullopt when the request has none.
  std::optional<std::string_view> header(std::string_view name) const;
  // The token of an `Authorization: Bearer TOKEN` header (the scheme compared without
  // regard to case); nullopt when there is no such header or it has another scheme.
  std::optional<std::string_view> bearer() const;
  // Every header in the order received.
  std::span<const Header> headers() const { return headers_; }
  // What the server's authentication hook returned; null when the server declares none
  // (and, inside the hook itself, not yet known).
  const Principal* principal() const { return principal_; }

 private:
  std::string_view method_;
  std::string_view target_;
  std::span<const Header> headers_;
  const Principal* principal_;
};

namespace request_detail {

// Makes `request` the one `ctx` handles on this thread until destroyed (what
// ctx.request() returns); nests, so a dev call's handler running on its caller's thread
// (itself a handler) restores the caller's request when it returns. For the server that
// runs handlers; not for programs.
class HandlingRequest {
 public:
  HandlingRequest(const PersonaContext& ctx, const RequestInfo& request);
  ~HandlingRequest();
  HandlingRequest(const HandlingRequest&) = delete;
  HandlingRequest& operator=(const HandlingRequest&) = delete;

  // The innermost request `ctx` handles on this thread, or null.
  static const RequestInfo* find(const PersonaContext& ctx);

 private:
  const PersonaContext& ctx_;
  const RequestInfo& request_;
  const HandlingRequest* outer_;
};

}  // namespace request_detail
}  // namespace snap
