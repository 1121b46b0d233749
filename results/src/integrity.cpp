// Refusing a damaged database before appending to it (`run`, `merge`): SQLite
// would add rows to a file whose b-trees are already broken, and the damage
// shows only later (report fails on it). PRAGMA quick_check, not
// integrity_check: both read every page, but quick_check skips matching each
// index against its table, which tripled the time (126 MB, 2M trials: 3.1 s
// against 9.5 s on a loaded 2-CPU host); a page-level fault is what appends
// would build on.
#include <string>

#include "store_internal.h"

namespace flakelab::results::detail {

void check_database_integrity(sqlite3* db, const std::string& path) {
  Statement check(db, path, "PRAGMA quick_check(5)", "integrity check (PRAGMA quick_check)");
  std::string problems;
  while (check.next()) {
    std::string row = check.column_text(0);
    if (row == "ok") continue;
    problems += problems.empty() ? row : "; " + row;
  }
  if (!problems.empty())
    throw make_error(path, "integrity check (PRAGMA quick_check)",
                     "the database is damaged, nothing is added to it: " + problems, SQLITE_CORRUPT);
}

}  // namespace flakelab::results::detail

namespace flakelab::results {

void Store::check_integrity() const { detail::check_database_integrity(detail::StoreAccess::db(*this), path()); }

}  // namespace flakelab::results
