// placeholder translation unit; components land here.
namespace snap {}
