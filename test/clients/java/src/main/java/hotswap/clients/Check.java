package hotswap.clients;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/** Comparisons that name what differed; a failed one ends the program with exit code 1. */
final class Check {
    private Check() {}

    static final class Mismatch extends RuntimeException {
        Mismatch(String msg) {
            super(msg);
        }
    }

    static void eq(String what, Object got, Object want) {
        if (!same(got, want)) {
            throw new Mismatch(what + ": got " + fmt(got) + ", want " + fmt(want));
        }
    }

    static void fail(String msg) {
        throw new Mismatch(msg);
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof byte[] x && b instanceof byte[] y) {
            return Arrays.equals(x, y);
        }
        if (a instanceof List<?> x && b instanceof List<?> y) {
            if (x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!same(x.get(i), y.get(i))) {
                    return false;
                }
            }
            return true;
        }
        return Objects.equals(a, b);
    }

    static String fmt(Object v) {
        if (v instanceof byte[] b) {
            return "bytes\"" + new String(b, StandardCharsets.ISO_8859_1).replace("\r", "\\r").replace("\n", "\\n")
                    .replace("\0", "\\0") + "\"";
        }
        if (v instanceof List<?> l) {
            StringBuilder sb = new StringBuilder("[");
            for (Object o : l) {
                sb.append(sb.length() > 1 ? ", " : "").append(fmt(o));
            }
            return sb.append(']').toString();
        }
        return v instanceof String s ? "\"" + s + "\"" : String.valueOf(v);
    }

    /** bytes(0..255) + RESP-looking bytes: a value that only a binary-safe path returns intact. */
    static byte[] binaryValue() {
        byte[] tail = "\r\n$-1\r\n*0\r\n\0".getBytes(StandardCharsets.ISO_8859_1);
        byte[] v = new byte[256 + tail.length];
        for (int i = 0; i < 256; i++) {
            v[i] = (byte) i;
        }
        System.arraycopy(tail, 0, v, 256, tail.length);
        return v;
    }

    static byte[] concat(byte[] a, byte[] b) {
        byte[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /**
     * Parses HOST:PORT [--protocol 2|3] (no flag: the library's default), runs body, prints
     * its line; prints FAIL and exits 1 on a mismatch or any error.
     */
    static void run(String lib, String[] args, Body body) {
        Integer proto = null;
        if (args.length == 3 && args[1].equals("--protocol") && (args[2].equals("2") || args[2].equals("3"))) {
            proto = Integer.valueOf(args[2]);
        } else if (args.length != 1) {
            System.err.println("usage: " + lib + " HOST:PORT [--protocol 2|3]");
            System.exit(2);
        }
        try {
            System.out.println(body.run(args[0], proto));
            System.exit(0);
        } catch (Mismatch m) {
            System.err.println("FAIL " + lib + ": " + m.getMessage());
        } catch (Throwable t) {
            t.printStackTrace();
            System.err.println("FAIL " + lib + ": " + t);
        }
        System.exit(1);
    }

    interface Body {
        /** proto: 2 or 3 to ask for that RESP version, null for the library's default. */
        String run(String addr, Integer proto) throws Exception;
    }
}
