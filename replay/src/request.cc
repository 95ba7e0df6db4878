#include "snap/request.h"

#include <stdexcept>

#include "snap/persona.h"

namespace snap {

namespace {

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

// The requests this thread is handling, innermost first (a linked list through the
// HandlingRequest scopes on its stack).
thread_local const request_detail::HandlingRequest* current = nullptr;

}  // namespace

std::string_view RequestInfo::query() const {
  const std::size_t question = target_.find('?');
  return question == std::string_view::npos ? std::string_view() : target_.substr(question + 1);
}

std::optional<std::string_view> RequestInfo::header(std::string_view name) const {
  for (const Header& h : headers_) {
    if (equal_ignoring_case(h.name, name)) return h.value;
  }
  return std::nullopt;
}

std::optional<std::string_view> RequestInfo::bearer() const {
  const std::optional<std::string_view> authorization = header("authorization");
  constexpr std::string_view kScheme = "bearer ";  // RFC 6750 §2.1: "Bearer" 1*SP token
  if (!authorization || authorization->size() <= kScheme.size() ||
      !equal_ignoring_case(authorization->substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  std::string_view token = authorization->substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

namespace request_detail {

HandlingRequest::HandlingRequest(const PersonaContext& ctx, const RequestInfo& request)
    : ctx_(ctx), request_(request), outer_(current) {
  current = this;
}

HandlingRequest::~HandlingRequest() { current = outer_; }

const RequestInfo* HandlingRequest::find(const PersonaContext& ctx) {
  for (const HandlingRequest* h = current; h != nullptr; h = h->outer_) {
    if (&h->ctx_ == &ctx) return &h->request_;
  }
  return nullptr;
}

}  // namespace request_detail

const RequestInfo& PersonaContext::request() const {
  if (const RequestInfo* r = request_detail::HandlingRequest::find(*this)) return *r;
  throw std::logic_error("ctx.request(): persona " + persona().id().str() +
                         " is not handling a request on this thread: call it from an endpoint handler (or an "
                         "authentication hook), on the thread that runs it");
}

}  // namespace snap
