// Authentication of an ApiServer's callers: what the server checks before every handler,
// and what the program's own typed callers send.
//
//   auto& api_key = app.add<snap::Secret>("api-key");      // build --secret api-key=...
//   auto& api = app.add<snap::ApiServer>("api");
//   api.authenticate(snap::bearer_token(api_key));          // Authorization: Bearer <api-key>
//   client.uses(api).uses(api_key);                         // the client sends it, so holds it
//
// or a function of the request (a token looked up in a store, a signature checked),
// answering a Principal or throwing ApiError unauthenticated / permission_denied, with the
// credentials the program's own callers send:
//
//   auth.authenticate([](const snap::RequestInfo& request) -> snap::Principal {
//     if (request.bearer() != "let me in") throw snap::ApiError(snap::ErrorCode::kUnauthenticated, "no");
//     return snap::Principal{"guest", {}};
//   });
//   auth.credentials(snap::bearer_token(client_token));      // what the program's callers send
//
// docs/api.md, "Authentication".
//
// Thread safety: values, made at startup.
#pragma once

#include <source_location>
#include <string>

#include "snap/password.h"

namespace snap {

// An `Authorization: Bearer TOKEN` credential whose token is a Secret's or a Password's
// value. The value reaches a persona at runtime from its own secret files (never the
// log), so a persona that checks or sends it must use it.
class BearerToken {
 public:
  // The component holding the token: a Secret or a Password (owned by the app).
  const Component& secret() const { return *secret_; }
  // Its secret's name ("api-key"): the subject of the principal it authenticates.
  const std::string& secret_name() const { return name_; }
  // The token, for the persona running `ctx` (UsesError when it does not use secret()).
  std::string value(const PersonaContext& ctx, std::source_location where = std::source_location::current()) const;

 private:
  friend BearerToken bearer_token(const Secret& secret);
  friend BearerToken bearer_token(const Password& password);
  BearerToken(const Component& secret, std::string name) : secret_(&secret), name_(std::move(name)) {}
  const Component* secret_;
  std::string name_;  // the secret's name (Secret::secret_name)
};

BearerToken bearer_token(const Secret& secret);
BearerToken bearer_token(const Password& password);

}  // namespace snap
