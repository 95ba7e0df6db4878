#include "snap/postgres.h"

#include "snap/app.h"
#include "snap/environment.h"
#include "snap/membrane.h"
#include "snap/password.h"
#include "snap/persona.h"

namespace snap {

namespace {

// libpq keyword values: quoted, with ' and \ escaped, so any user/database/password works.
std::string libpq_quoted(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

}  // namespace

Postgres::Postgres(const Init& init, PostgresConfig config)
    : Component(init, "Postgres"), config_(std::move(config)), password_(&add<Password>("password")) {
  if (config_.user.empty() || config_.database.empty()) {
    throw std::invalid_argument("Postgres " + id().str() + ": user and database must not be empty");
  }
  uses(*password_);
}

std::string Postgres::host() const { return app().environment().host_of(*this); }

boost::json::object Postgres::config() const {
  return {{"user", config_.user},
          {"database", config_.database},
          {"port", kPort},
          {"password_secret", password_->secret_name()},
          {"service", id().service_name()}};
}

std::string Postgres::connection(const PersonaContext& ctx) const {
  ctx.require_uses(*this);
  // The one hand-set override, for a server of the user's own on this host.
  if (app().environment().user_database_allowed()) {
    if (auto env = ctx.membrane().env("SNAP_POSTGRES"); env && !env->empty()) return *env;
  }
  return "host=" + libpq_quoted(host()) + " port=" + std::to_string(kPort) + " user=" + libpq_quoted(config_.user) +
         " dbname=" + libpq_quoted(config_.database) + " password=" + libpq_quoted(password_->value(ctx));
}

}  // namespace snap
