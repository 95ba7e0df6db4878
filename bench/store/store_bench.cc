// Store throughput against a private PostgreSQL 15, side by side in the same run with raw
// libpqxx prepared statements doing the same work on the same server, plus the memory
// backend. Single client thread: each operation is one round trip (a write with an index:
// one transaction). Figures: bench/README.md.
#include <benchmark/benchmark.h>

#include <pqxx/pqxx>

#include "../../tests/support/test_postgres.h"
#include "snap/store.h"

namespace {

constexpr int kKeys = 1000;
const snap::json kValue = boost::json::parse(R"({"customer":"alice","total":1250,"tags":["gift","express"]})");

snap::testing::TestPostgres& server() {
  static snap::testing::TestPostgres instance;
  return instance;
}

std::string key(std::int64_t i) { return "order-" + std::to_string(i % kKeys); }

std::unique_ptr<snap::JsonStore> postgres_store() {
  snap::PostgresOptions pg;
  pg.connection = server().connection();
  auto store = snap::open_postgres_store(pg, snap::StoreOptions{"bench_store", {}});
  for (int i = 0; i < kKeys; ++i) store->set(key(i), kValue);
  return store;
}

// The baseline: the statements the store runs, prepared once, on one connection.
struct Raw {
  Raw() : connection(server().connection()) {
    pqxx::nontransaction tx(connection);
    tx.exec("CREATE TABLE IF NOT EXISTS raw_bench (key text COLLATE \"C\" PRIMARY KEY, value jsonb NOT NULL)");
    connection.prepare("get", "SELECT value::text FROM raw_bench WHERE key = $1");
    connection.prepare("set",
                       "INSERT INTO raw_bench (key, value) VALUES ($1, $2::jsonb) "
                       "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value");
    for (int i = 0; i < kKeys; ++i) tx.exec_prepared("set", key(i), text);
  }
  pqxx::connection connection;
  const std::string text = boost::json::serialize(kValue);
};

void BM_Raw_Pqxx_Get(benchmark::State& state) {
  Raw raw;
  std::int64_t i = 0;
  for (auto _ : state) {
    pqxx::nontransaction tx(raw.connection);
    const pqxx::result r = tx.exec_prepared("get", key(i++));
    benchmark::DoNotOptimize(r[0][0].c_str());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Pqxx_Get)->UseRealTime();

void BM_Store_Postgres_Get(benchmark::State& state) {
  auto store = postgres_store();
  std::int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(store->get(key(i++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Postgres_Get)->UseRealTime();

void BM_Raw_Pqxx_Set(benchmark::State& state) {
  Raw raw;
  std::int64_t i = 0;
  for (auto _ : state) {
    pqxx::nontransaction tx(raw.connection);
    tx.exec_prepared("set", key(i++), raw.text);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Pqxx_Set)->UseRealTime();

void BM_Store_Postgres_Set(benchmark::State& state) {
  auto store = postgres_store();
  std::int64_t i = 0;
  for (auto _ : state) store->set(key(i++), kValue);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Postgres_Set)->UseRealTime();

// With one index: a transaction of item upsert, index delete and index insert.
void BM_Raw_Pqxx_Set_Indexed(benchmark::State& state) {
  Raw raw;
  {
    pqxx::nontransaction tx(raw.connection);
    tx.exec(
        "CREATE TABLE IF NOT EXISTS raw_bench_index (index_key text COLLATE \"C\" NOT NULL, key text COLLATE \"C\" "
        "NOT NULL, seq integer NOT NULL, inline jsonb NOT NULL, PRIMARY KEY (index_key, key, seq))");
    tx.exec("CREATE INDEX IF NOT EXISTS raw_bench_index_by_key ON raw_bench_index (key)");
  }
  raw.connection.prepare("index_delete", "DELETE FROM raw_bench_index WHERE key = $1");
  raw.connection.prepare("index_insert",
                         "INSERT INTO raw_bench_index (index_key, key, seq, inline) VALUES ($1, $2, $3, $4::jsonb)");
  std::int64_t i = 0;
  for (auto _ : state) {
    const std::string k = key(i++);
    pqxx::work tx(raw.connection);
    tx.exec_prepared("set", k, raw.text);
    tx.exec_prepared("index_delete", k);
    tx.exec_prepared("index_insert", "alice", k, 0, "1250");
    tx.commit();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Raw_Pqxx_Set_Indexed)->UseRealTime();

void BM_Store_Postgres_Set_Indexed(benchmark::State& state) {
  snap::PostgresOptions pg;
  pg.connection = server().connection();
  auto store = snap::open_postgres_store(
      pg, snap::StoreOptions{"bench_store_indexed", {{"by-customer", 1, [](std::string_view, const snap::json& v) {
                                                        return std::vector<snap::IndexEntry>{
                                                            {std::string(v.at("customer").as_string()), v.at("total")}};
                                                      }}}});
  std::int64_t i = 0;
  for (auto _ : state) store->set(key(i++), kValue);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Postgres_Set_Indexed)->UseRealTime();

// A delete with one index: one autocommit statement, whose trigger deletes the item's
// entries from every index table of the store. The set that puts the key back is not
// timed.
void BM_Store_Postgres_Del_Indexed(benchmark::State& state) {
  snap::PostgresOptions pg;
  pg.connection = server().connection();
  auto store = snap::open_postgres_store(
      pg, snap::StoreOptions{"bench_store_indexed_del", {{"by-customer", 1, [](std::string_view, const snap::json& v) {
                                                            return std::vector<snap::IndexEntry>{
                                                                {std::string(v.at("customer").as_string()),
                                                                 v.at("total")}};
                                                          }}}});
  std::int64_t i = 0;
  for (auto _ : state) {
    state.PauseTiming();
    const std::string k = key(i++);
    store->set(k, kValue);
    state.ResumeTiming();
    benchmark::DoNotOptimize(store->del(k));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Postgres_Del_Indexed)->UseRealTime();

void BM_Store_Memory_Get(benchmark::State& state) {
  auto store = snap::open_memory_store(snap::StoreOptions{"bench", {}});
  for (int i = 0; i < kKeys; ++i) store->set(key(i), kValue);
  std::int64_t i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(store->get(key(i++)));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Memory_Get);

void BM_Store_Memory_Set(benchmark::State& state) {
  auto store = snap::open_memory_store(snap::StoreOptions{"bench", {}});
  std::int64_t i = 0;
  for (auto _ : state) store->set(key(i++), kValue);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Store_Memory_Set);

}  // namespace

BENCHMARK_MAIN();
