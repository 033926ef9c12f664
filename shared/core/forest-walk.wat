;; The forest's serving walk (shared/core/compiled-forest.ts `servingLayout` lays the memory out; read it first).
;; `npm run build:wasm` assembles this file into forest-walk-wasm.ts, and forest-walk-wasm.test.ts checks that the
;; two agree.
;;
;; Memory: record r at byte 16 r: its threshold (f64), then the references of its left and right children (i32,
;; i32). A reference is (record << 8) | the column its node compares, so a record's byte address is
;; (reference >> 4) & -16 and its column's value is the f64 at x + 8 (reference & 255). Record 0 is not used (so
;; that no address computed below is negative: a load adds its offset to the address read as unsigned). Records 1
;; and 2 are the sinks every leaf points to: their threshold slot holds the vote (0 or 1) and both children are
;; themselves.
;;
;; walk(n, x, s, d) returns the votes for class 1 of the n trees whose root references are the i32s at byte s and
;; whose depths are the i32s at byte d (trees in decreasing depth), for the row of f64s at byte x. A step is
;; `row[column] < threshold ? left : right`, as in ml-cart (NaN goes right), written without a branch: the child's
;; reference is read at record + 12 - 4 (row[column] < threshold). Trees go eight at a time, one step of each per
;; turn, for the depth of the first (deepest) of the eight; a tree that reaches its leaf early waits in a sink.
;; The trees left over go one at a time.
(module
  (import "env" "memory" (memory 1))
  (func (export "walk") (param $n i32) (param $x i32) (param $s i32) (param $d i32) (result f64)
    (local $t i32) (local $k i32) (local $p i32) (local $count f64) (local $c0 i32) (local $rc0 i32) (local $c1 i32) (local $rc1 i32) (local $c2 i32) (local $rc2 i32) (local $c3 i32) (local $rc3 i32) (local $c4 i32) (local $rc4 i32) (local $c5 i32) (local $rc5 i32) (local $c6 i32) (local $rc6 i32) (local $c7 i32) (local $rc7 i32)
    (block $done8
      (loop $next8
        (br_if $done8 (i32.gt_s (i32.add (local.get $t) (i32.const 8)) (local.get $n)))
        (local.set $p (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2))))
        (local.set $c0 (i32.load offset=0 (local.get $p)))
        (local.set $c1 (i32.load offset=4 (local.get $p)))
        (local.set $c2 (i32.load offset=8 (local.get $p)))
        (local.set $c3 (i32.load offset=12 (local.get $p)))
        (local.set $c4 (i32.load offset=16 (local.get $p)))
        (local.set $c5 (i32.load offset=20 (local.get $p)))
        (local.set $c6 (i32.load offset=24 (local.get $p)))
        (local.set $c7 (i32.load offset=28 (local.get $p)))
        (local.set $k (i32.load (i32.add (local.get $d) (i32.shl (local.get $t) (i32.const 2)))))
        (block $end
          (loop $step
            (br_if $end (i32.le_s (local.get $k) (i32.const 0)))
            (local.set $c0 (i32.load offset=12 (i32.sub
              (local.tee $rc0 (i32.and (i32.shr_u (local.get $c0) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c0) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc0)))
                       (i32.const 2)))))
            (local.set $c1 (i32.load offset=12 (i32.sub
              (local.tee $rc1 (i32.and (i32.shr_u (local.get $c1) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c1) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc1)))
                       (i32.const 2)))))
            (local.set $c2 (i32.load offset=12 (i32.sub
              (local.tee $rc2 (i32.and (i32.shr_u (local.get $c2) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c2) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc2)))
                       (i32.const 2)))))
            (local.set $c3 (i32.load offset=12 (i32.sub
              (local.tee $rc3 (i32.and (i32.shr_u (local.get $c3) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c3) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc3)))
                       (i32.const 2)))))
            (local.set $c4 (i32.load offset=12 (i32.sub
              (local.tee $rc4 (i32.and (i32.shr_u (local.get $c4) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c4) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc4)))
                       (i32.const 2)))))
            (local.set $c5 (i32.load offset=12 (i32.sub
              (local.tee $rc5 (i32.and (i32.shr_u (local.get $c5) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c5) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc5)))
                       (i32.const 2)))))
            (local.set $c6 (i32.load offset=12 (i32.sub
              (local.tee $rc6 (i32.and (i32.shr_u (local.get $c6) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c6) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc6)))
                       (i32.const 2)))))
            (local.set $c7 (i32.load offset=12 (i32.sub
              (local.tee $rc7 (i32.and (i32.shr_u (local.get $c7) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c7) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc7)))
                       (i32.const 2)))))
            (local.set $k (i32.sub (local.get $k) (i32.const 1)))
            (br $step)))
        (local.set $count (f64.add (local.get $count) (f64.add (f64.add (f64.add (f64.add (f64.add (f64.add (f64.add (f64.load (i32.and (i32.shr_u (local.get $c0) (i32.const 4)) (i32.const -16)))
          (f64.load (i32.and (i32.shr_u (local.get $c1) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c2) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c3) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c4) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c5) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c6) (i32.const 4)) (i32.const -16))))
          (f64.load (i32.and (i32.shr_u (local.get $c7) (i32.const 4)) (i32.const -16))))))
        (local.set $t (i32.add (local.get $t) (i32.const 8)))
        (br $next8)))
    (block $done1
      (loop $next1
        (br_if $done1 (i32.ge_s (local.get $t) (local.get $n)))
        (local.set $c0 (i32.load (i32.add (local.get $s) (i32.shl (local.get $t) (i32.const 2)))))
        (local.set $k (i32.load (i32.add (local.get $d) (i32.shl (local.get $t) (i32.const 2)))))
        (block $end1
          (loop $step1
            (br_if $end1 (i32.le_s (local.get $k) (i32.const 0)))
            (local.set $c0 (i32.load offset=12 (i32.sub
              (local.tee $rc0 (i32.and (i32.shr_u (local.get $c0) (i32.const 4)) (i32.const -16)))
              (i32.shl (f64.lt (f64.load (i32.add (local.get $x) (i32.shl (i32.and (local.get $c0) (i32.const 255)) (i32.const 3))))
                               (f64.load (local.get $rc0)))
                       (i32.const 2)))))
            (local.set $k (i32.sub (local.get $k) (i32.const 1)))
            (br $step1)))
        (local.set $count (f64.add (local.get $count) (f64.load (i32.and (i32.shr_u (local.get $c0) (i32.const 4)) (i32.const -16)))))
        (local.set $t (i32.add (local.get $t) (i32.const 1)))
        (br $next1)))
    (local.get $count)))
