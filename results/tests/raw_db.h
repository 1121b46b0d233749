// A raw sqlite3 connection for tests that look at the database file behind the Store's back.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <stdexcept>
#include <string>

namespace flakelab::results::testing {

// A plain connection, independent of the Store under test.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
        SQLITE_OK) {
      const std::string message = sqlite3_errmsg(db_);
      sqlite3_close(db_);
      throw std::runtime_error("open " + path + ": " + message);
    }
    sqlite3_busy_timeout(db_, 30000);
  }
  ~RawDb() { sqlite3_close(db_); }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  // Returns the sqlite result code so tests can expect failures.
  int exec(const std::string& sql) { return sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr); }

  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      throw std::runtime_error("prepare " + sql + ": " + sqlite3_errmsg(db_));
    }
    std::string result;
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      const auto* value = sqlite3_column_text(stmt, 0);
      if (value) result = reinterpret_cast<const char*>(value);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW) throw std::runtime_error("no row from " + sql);
    return result;
  }
  int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace flakelab::results::testing
