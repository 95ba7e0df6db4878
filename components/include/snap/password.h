// Password and Secret: values a persona needs that must never enter the snapshot log.
//
// Password is generated once, by the first build that declares it, from the real random
// source (unrecorded), and stored in BUILD_DIR/state/secrets/NAME with mode 0600; later
// builds keep it. Secret is a value the user supplies at build time (`--secret NAME=VALUE`
// or $SNAP_SECRET_NAME); it is stored the same way.
//
// Both reach a persona as a secret: only personas that use the component (directly or
// through what they use) receive it, in BUILD_DIR/runtime-secrets/PERSONA/NAME — what
// compose mounts at /run/secrets. Read the value in a persona body with value(ctx); the
// log never holds it. A persona that does not use the password gets UsesError, in dev
// and run alike.
//
//   auto& db_password = app.add<snap::Password>("db-password");
//   app.add<snap::Persona>("api", snap::PersonaKind::kDaemon, [&db_password](snap::PersonaContext& ctx) {
//     connect(db_password.value(ctx));
//     return 0;
//   }).uses(db_password);
//
// Thread safety: value() may be called from any thread after startup.
#pragma once

#include <source_location>
#include <string>
#include <string_view>

#include "snap/component.h"

namespace snap {

class PersonaContext;

// The secret a Password or Secret holds, from the component's dotted id (Id::str()): the
// id below the app, '/' made '_' ("db-password", "payments.stripe-key"). What users type
// in --secret NAME=VALUE and the file name under /run/secrets; the tools derive it from a
// log's manifest with this same function.
std::string secret_name_for(std::string_view id);

class Password final : public Component {
 public:
  // 24 random bytes as 48 hex digits: 192 bits, safe in URLs and connection strings.
  static constexpr std::size_t kRandomBytes = 24;

  explicit Password(const Init& init);
  // The secret's name: the file name under /run/secrets.
  const std::string& secret_name() const { return secret_name_; }
  std::vector<std::string> secret_names() const override { return {secret_name_}; }
  // The value, for the persona running `ctx`. Throws UsesError when that persona does not
  // use this password, SecretUnavailable when its secret file/variable is missing or empty.
  std::string value(const PersonaContext& ctx, std::source_location where = std::source_location::current()) const;

 private:
  std::string secret_name_;
};

class Secret final : public Component {
 public:
  explicit Secret(const Init& init);
  const std::string& secret_name() const { return secret_name_; }
  std::vector<std::string> secret_names() const override { return {secret_name_}; }
  std::string value(const PersonaContext& ctx, std::source_location where = std::source_location::current()) const;

 private:
  std::string secret_name_;
};

}  // namespace snap
