// Internal: the sqlite3 helpers shared by store.cpp, query.cpp, merge.cpp. Not installed.
#pragma once

#include <fmt/format.h>
#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "flakelab/results/store.h"

namespace flakelab::results::detail {

inline StoreError make_error(const std::string& path, std::string_view op, std::string_view detail,
                      int code) {
  return StoreError(fmt::format("results store '{}': {}: {} (sqlite code {})", path, op, detail, code));
}

[[noreturn]] inline void throw_sqlite(sqlite3* db, const std::string& path, std::string_view op) {
  throw make_error(path, op, sqlite3_errmsg(db), sqlite3_extended_errcode(db));
}

struct DbCloser {
  // close_v2 so a statement that somehow outlived its owner cannot keep the handle open.
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;

struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};

// One prepared statement. Errors name the store path and the statement's operation.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql, const char* op)
      : db_(db), path_(&path), op_(op) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      throw_sqlite(db, path, fmt::format("prepare '{}'", op));
    }
    stmt_.reset(raw);
  }

  void bind_int(int index, int64_t value) { check_bind(sqlite3_bind_int64(stmt_.get(), index, value)); }
  void bind_double(int index, double value) {
    check_bind(sqlite3_bind_double(stmt_.get(), index, value));
  }
  // SQLITE_STATIC: callers keep the text alive until the statement is reset (Reset below).
  void bind_text(int index, std::string_view text) {
    check_bind(sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_STATIC,
                                   SQLITE_UTF8));
  }

  // Raw sqlite3_step result, for callers that handle errors themselves.
  int step() noexcept { return sqlite3_step(stmt_.get()); }
  // True for a row, false when done.
  bool next() {
    const int rc = step();
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite(db_, *path_, op_);
  }
  void run() {
    if (next()) throw make_error(*path_, op_, "statement unexpectedly returned rows", SQLITE_MISUSE);
  }

  int64_t column_int(int col) { return sqlite3_column_int64(stmt_.get(), col); }
  double column_double(int col) { return sqlite3_column_double(stmt_.get(), col); }
  bool column_is_null(int col) { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::string column_text(int col) {
    const auto* text = sqlite3_column_text(stmt_.get(), col);  // before _bytes, per the docs
    const int size = sqlite3_column_bytes(stmt_.get(), col);
    return text ? std::string(reinterpret_cast<const char*>(text), static_cast<size_t>(size)) : std::string();
  }

  // Unbinding drops the SQLITE_STATIC pointers; resetting ends the statement's read of the
  // database, so a half-read SELECT never pins an old WAL snapshot.
  void reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
  }

  const char* op() const { return op_; }

 private:
  void check_bind(int rc) {
    if (rc != SQLITE_OK) throw_sqlite(db_, *path_, fmt::format("bind parameters of '{}'", op_));
  }

  sqlite3* db_;
  const std::string* path_;
  const char* op_;
  std::unique_ptr<sqlite3_stmt, StmtFinalizer> stmt_;
};

// Resets a statement when a use of it ends, however it ends.
class Reset {
 public:
  explicit Reset(Statement& stmt) : stmt_(stmt) {}
  ~Reset() { stmt_.reset(); }
  Reset(const Reset&) = delete;
  Reset& operator=(const Reset&) = delete;

 private:
  Statement& stmt_;
};

inline void exec(sqlite3* db, const std::string& path, const char* sql, std::string_view op) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) throw_sqlite(db, path, op);
}

// A transaction that rolls back unless committed.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };

  Transaction(sqlite3* db, const std::string& path, std::string_view op, Kind kind)
      : db_(db), path_(path), op_(op) {
    // A writer takes the write lock up front (IMMEDIATE), waiting up to busy_timeout for other
    // processes. A deferred transaction that later tries to write can instead fail at once
    // with SQLITE_BUSY_SNAPSHOT, which the busy handler does not retry.
    exec(db_, path_, kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN",
         fmt::format("{}: begin transaction", op_));
  }
  ~Transaction() {
    // Some errors (SQLITE_FULL, SQLITE_IOERR, ...) roll back by themselves; a second ROLLBACK
    // would only fail.
    if (!committed_ && !sqlite3_get_autocommit(db_)) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    exec(db_, path_, "COMMIT", fmt::format("{}: commit", op_));
    committed_ = true;
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  std::string_view op_;
  bool committed_ = false;
};

inline int64_t query_int(sqlite3* db, const std::string& path, const char* sql, const char* op) {
  Statement stmt(db, path, sql, op);
  if (!stmt.next()) throw make_error(path, op, "no result", SQLITE_ERROR);
  return stmt.column_int(0);
}


// Access to a Store's connection for the query, report and merge code of this library.
// Throws StoreError if PRAGMA quick_check finds `db` damaged (integrity.cpp).
void check_database_integrity(sqlite3* db, const std::string& path);

struct StoreAccess {
  static sqlite3* db(const Store& store);
  static const std::string& path(const Store& store);
};

}  // namespace flakelab::results::detail
