package vodpipe.ddblocal;

import java.lang.instrument.ClassFileTransformer;
import java.lang.instrument.Instrumentation;
import java.security.ProtectionDomain;

/**
 * Stand-in for LocalStack's ddb-local-loader agent (localstack-artifacts, dynamodb-local-patch), which
 * LocalStack passes to DynamoDB Local with -javaagent and would otherwise download.
 *
 * <p>Like the original it lifts DynamoDB Local's hard limit of 20 GSIs per CreateTable to 100, so the
 * emulator behaves as LocalStack does in its container. Unlike it, it needs no javassist: it rewrites the
 * one "size() > 20" comparison in CreateTableFunction.apply by byte pattern, and leaves the class untouched
 * if the pattern is not found exactly once (a newer DynamoDB Local then keeps the limit, it does not break).
 *
 * <p>It also ends the JVM when its parent (LocalStack) is gone. LocalStack starts DynamoDB Local in a
 * session of its own and stops it only on an orderly shutdown, so a SIGKILLed LocalStack would otherwise
 * leave the JVM running, listening on all interfaces.
 */
public final class DdbLocalAgent {
    private static final String TARGET_SUFFIX = "/local/shared/access/api/cp/CreateTableFunction";
    private static final int DEFAULT_LIMIT = 100;

    private static final long PARENT_POLL_MILLIS = 1000;

    private DdbLocalAgent() {}

    public static void premain(String args, Instrumentation inst) {
        watchParent();
        final int limit = parseLimit(args);
        inst.addTransformer(new ClassFileTransformer() {
            @Override
            public byte[] transform(ClassLoader loader, String name, Class<?> redefined,
                                    ProtectionDomain domain, byte[] bytes) {
                if (name == null || !name.endsWith(TARGET_SUFFIX)) {
                    return null;
                }
                return patch(name, bytes, limit);
            }
        });
    }

    private static void watchParent() {
        final long parent = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
        if (parent <= 1) {
            return;
        }
        Thread watchdog = new Thread(() -> {
            while (true) {
                try {
                    Thread.sleep(PARENT_POLL_MILLIS);
                } catch (InterruptedException e) {
                    return;
                }
                // Once the parent dies the JVM is re-parented (to init or a subreaper).
                long now = ProcessHandle.current().parent().map(ProcessHandle::pid).orElse(-1L);
                if (now != parent) {
                    System.err.println("ddb-local-loader: parent " + parent + " is gone, exiting");
                    System.exit(143);
                }
            }
        }, "ddb-local-parent-watchdog");
        watchdog.setDaemon(true);
        watchdog.start();
    }

    private static int parseLimit(String args) {
        if (args == null || args.isEmpty()) {
            return DEFAULT_LIMIT;
        }
        int value = Integer.parseInt(args.trim());
        if (value < 1 || value > 127) {  // must fit bipush's signed byte operand
            throw new IllegalArgumentException("GSI limit must be 1..127, got " + value);
        }
        return value;
    }

    // invokeinterface List.size() (b9 idx idx 01 00), bipush 20 (10 14), if_icmple (a4)
    static byte[] patch(String name, byte[] bytes, int limit) {
        int at = -1;
        for (int i = 0; i + 8 <= bytes.length; i++) {
            if ((bytes[i] & 0xff) == 0xb9 && bytes[i + 3] == 1 && bytes[i + 4] == 0
                    && (bytes[i + 5] & 0xff) == 0x10 && bytes[i + 6] == 20 && (bytes[i + 7] & 0xff) == 0xa4) {
                if (at >= 0) {
                    System.err.println("ddb-local-loader: GSI limit check ambiguous in " + name + ", not patched");
                    return null;
                }
                at = i + 6;
            }
        }
        if (at < 0) {
            System.err.println("ddb-local-loader: GSI limit check not found in " + name + ", not patched");
            return null;
        }
        byte[] out = bytes.clone();
        out[at] = (byte) limit;
        return out;
    }
}
