// A small app built in variants, so that `snapshot diff` is tested on real build logs.
// The variant comes from $DIFF_APP_VARIANT, read in main() before snap::run (outside
// startup, so it is not a recorded input): it picks which components the app declares.
//   base           db (Postgres), orders (store), api (ApiServer uses orders), report (Job uses api)
//   store-added    + invoices (a second store on db)
//   store-removed  no orders; api uses nothing
//   store-renamed  orders is called purchases
//   port           a metrics port is declared before the api, so the api's port moves
//   uses           report also uses orders (reaches the database itself)
//   db-removed     no db, no orders
// Startup reads $DIFF_REGION through the membrane: a recorded input the tests change.
#include <cstdlib>
#include <string>

#include "snap/api_server.h"
#include "snap/app.h"
#include "snap/job.h"
#include "snap/key_value_store.h"
#include "snap/main.h"
#include "snap/membrane.h"
#include "snap/port.h"
#include "snap/postgres.h"

namespace {

std::string variant;  // set once in main(), before startup

void define_app(snap::App& app) {
  const std::string region = app.membrane().env("DIFF_REGION").value_or("local");
  (void)region;
  if (variant == "port") app.add<snap::Port>("metrics-port");
  snap::KeyValueStore* orders = nullptr;
  if (variant != "db-removed") {
    auto& db = app.add<snap::Postgres>("db");
    if (variant != "store-removed") {
      orders = &app.add<snap::KeyValueStore>(variant == "store-renamed" ? "purchases" : "orders", db);
    }
    if (variant == "store-added") app.add<snap::KeyValueStore>("invoices", db);
  }
  auto& api = app.add<snap::ApiServer>("api");
  if (orders) api.uses(*orders);
  auto status = api.endpoint<void, void>("GET", "/status", []() {});
  auto& report = app.add<snap::Job>("report", [status](snap::PersonaContext& ctx) {
    status(ctx);
    return 0;
  });
  report.uses(api);
  if (variant == "uses" && orders) report.uses(*orders);
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* v = std::getenv("DIFF_APP_VARIANT")) variant = v;
  return snap::run(argc, argv, "shop", define_app);
}
