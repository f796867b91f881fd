// Stands in for the one GCC 13 libstdc++ symbol (GLIBCXX_3.4.32) that libLibTorchSharp.so uses
// and Debian 12's libstdc++ (up to GLIBCXX_3.4.30) lacks. Built and linked in by
// patch-libtorchsharp.sh, only on such systems.
#include <ios>

// GCC 13 headers emit a reference to this instead of a per-file std::ios_base::Init object;
// its job is to make sure std::cout and friends are constructed before use.
namespace std { void ios_base_library_init() {} }

// So do that here: this library is a dependency of libLibTorchSharp.so, so it initializes first.
static std::ios_base::Init glibcxx_shim_ios_init;
