import SQL
import Storage
import TestSupport

/// A SQL engine over a fresh standalone data directory. The directory is removed when the
/// returned `TemporaryDirectory` goes away: keep it alive while the engine is used.
func makeTestEngine(
    _ prefix: String, storage: StorageConfiguration = StorageConfiguration(), sql: SQLConfiguration = SQLConfiguration()
) throws -> (TemporaryDirectory, SQLEngine) {
    let directory = TemporaryDirectory(prefix: prefix)
    let layout = DataDirectory(root: directory.path)
    _ = try layout.open(initialRole: .standalone)
    var storage = storage
    storage.columnConverter = storage.columnConverter ?? CastColumnConverter()
    return (directory, SQLEngine(storage: try StorageEngine(layout: layout, configuration: storage), configuration: sql))
}
