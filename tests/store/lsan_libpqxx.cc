// LeakSanitizer suppressions built into store_test (they add to tests/lsan.supp, which CI
// passes in LSAN_OPTIONS): libpqxx 6.4 leaks the PGresult of a statement that fails because
// the connection broke (in exec_prepared, and in its error path below it, which has no
// symbols). PostgresFaultUnderLoad breaks connections mid-statement on purpose. The leaks
// are inside libpqxx: our code never owns those results.
extern "C" const char* __lsan_default_suppressions() {
  return "leak:pqxx::connection_base::exec_prepared\n"
         "leak:libpqxx-6.4.so\n";
}
