// spdlog's compiled part (SPDLOG_COMPILED_LIB), built from the installed headers (Debian
// ships libspdlog only as a shared library): the logger, registry, pattern formatter and
// the sinks flakelab uses, for the statically linked flakelab executable. See
// CMakeLists.txt here.
#include <mutex>

// In the order of spdlog's own src/*.cpp: -inl.h files depend on what came before.
#include <spdlog/spdlog-inl.h>
#include <spdlog/common-inl.h>
#include <spdlog/details/backtracer-inl.h>
#include <spdlog/details/registry-inl.h>
#include <spdlog/details/os-inl.h>
#include <spdlog/pattern_formatter-inl.h>
#include <spdlog/details/log_msg-inl.h>
#include <spdlog/details/log_msg_buffer-inl.h>
#include <spdlog/logger-inl.h>
#include <spdlog/sinks/sink-inl.h>
#include <spdlog/sinks/base_sink-inl.h>
#include <spdlog/details/null_mutex.h>

#include <spdlog/details/console_globals.h>
#include <spdlog/sinks/stdout_sinks-inl.h>

#include <spdlog/sinks/ansicolor_sink-inl.h>
#include <spdlog/sinks/stdout_color_sinks-inl.h>

#include <spdlog/details/file_helper-inl.h>
#include <spdlog/sinks/basic_file_sink-inl.h>

#include <spdlog/async.h>
#include <spdlog/async_logger-inl.h>
#include <spdlog/details/periodic_worker-inl.h>
#include <spdlog/details/thread_pool-inl.h>

namespace spdlog {

template SPDLOG_API logger::logger(std::string name, sinks_init_list::iterator begin, sinks_init_list::iterator end);

namespace sinks {
template class SPDLOG_API base_sink<std::mutex>;
template class SPDLOG_API base_sink<details::null_mutex>;

template class SPDLOG_API stdout_sink_base<details::console_mutex>;
template class SPDLOG_API stdout_sink_base<details::console_nullmutex>;
template class SPDLOG_API stdout_sink<details::console_mutex>;
template class SPDLOG_API stdout_sink<details::console_nullmutex>;
template class SPDLOG_API stderr_sink<details::console_mutex>;
template class SPDLOG_API stderr_sink<details::console_nullmutex>;

template class SPDLOG_API ansicolor_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_sink<details::console_nullmutex>;
template class SPDLOG_API ansicolor_stdout_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_stdout_sink<details::console_nullmutex>;
template class SPDLOG_API ansicolor_stderr_sink<details::console_mutex>;
template class SPDLOG_API ansicolor_stderr_sink<details::console_nullmutex>;

template class SPDLOG_API basic_file_sink<std::mutex>;
template class SPDLOG_API basic_file_sink<details::null_mutex>;
}  // namespace sinks

template SPDLOG_API std::shared_ptr<logger> stdout_logger_mt<synchronous_factory>(const std::string& logger_name);
template SPDLOG_API std::shared_ptr<logger> stdout_logger_st<synchronous_factory>(const std::string& logger_name);
template SPDLOG_API std::shared_ptr<logger> stderr_logger_mt<synchronous_factory>(const std::string& logger_name);
template SPDLOG_API std::shared_ptr<logger> stderr_logger_st<synchronous_factory>(const std::string& logger_name);

template SPDLOG_API std::shared_ptr<logger> stdout_color_mt<synchronous_factory>(const std::string& logger_name,
                                                                                 color_mode mode);
template SPDLOG_API std::shared_ptr<logger> stdout_color_st<synchronous_factory>(const std::string& logger_name,
                                                                                 color_mode mode);
template SPDLOG_API std::shared_ptr<logger> stderr_color_mt<synchronous_factory>(const std::string& logger_name,
                                                                                 color_mode mode);
template SPDLOG_API std::shared_ptr<logger> stderr_color_st<synchronous_factory>(const std::string& logger_name,
                                                                                 color_mode mode);

}  // namespace spdlog
