package imagehost;

import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.backend.h2.H2Backend;

/**
 * Serves the MongoDB wire protocol on HOST:PORT from one H2 (MVStore) file, or from memory
 * when the file is "-". Usage: MongoLauncher HOST PORT FILE
 */
public final class MongoLauncher {
    private MongoLauncher() {}

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: MongoLauncher HOST PORT FILE|-");
            System.exit(2);
        }
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        H2Backend backend = args[2].equals("-") ? H2Backend.inMemory() : new H2Backend(args[2]);
        MongoServer server = new MongoServer(backend);
        // MVStore commits about once a second; without closing it on SIGTERM a graceful stop
        // loses the last second of writes. shutdownNow() closes the backend (and the store).
        Runtime.getRuntime().addShutdownHook(new Thread(server::shutdownNow, "mongo-shutdown"));
        server.bind(host, port);
        System.out.println("mongo-java-server listening on " + host + ":" + port);
    }
}
