import { describe, expect, it } from "vitest";
import { ManagerList, mergeManagerAddresses } from "./manager-list.js";

describe("mergeManagerAddresses", () => {
  it("keeps the configured addresses first, in order, then the advertised ones not among them", () => {
    expect(mergeManagerAddresses(["a:1", "b:2"], ["c:3", "b:2", " ", "a:1", "d:4"])).toEqual(["a:1", "b:2", "c:3", "d:4"]);
    expect(mergeManagerAddresses(["a:1"], [])).toEqual(["a:1"]);
  });
});

describe("ManagerList", () => {
  it("goes round the addresses, wrapping at the end", () => {
    const l = new ManagerList(["a:1", "b:2", "c:3"]);
    expect([l.current(), l.next(), l.next(), l.next()]).toEqual(["a:1", "b:2", "c:3", "a:1"]);
  });

  it("with one manager always dials that one", () => {
    const l = new ManagerList(["a:1"]);
    expect([l.current(), l.next(), l.next()]).toEqual(["a:1", "a:1", "a:1"]);
  });

  it("adds the advertised managers after the configured ones and keeps the current address current", () => {
    const l = new ManagerList(["a:1"]);
    expect(l.advertise(["a:1", "b:2"])).toBe(true);
    expect(l.advertise(["a:1", "b:2"])).toBe(false);
    expect(l.addresses()).toEqual(["a:1", "b:2"]);
    expect(l.next()).toBe("b:2");
    expect(l.advertise(["c:3", "b:2"])).toBe(true);
    expect(l.current()).toBe("b:2");
    expect(l.addresses()).toEqual(["a:1", "c:3", "b:2"]);
  });

  it("never forgets a configured manager, and starts over when the current advertised one is gone", () => {
    const l = new ManagerList(["a:1"]);
    l.advertise(["b:2", "c:3"]);
    l.next();
    l.next();
    expect(l.current()).toBe("c:3");
    l.advertise(["b:2"]);
    expect(l.addresses()).toEqual(["a:1", "b:2"]);
    expect(l.current()).toBe("a:1");
    l.advertise([]);
    expect(l.addresses()).toEqual(["a:1"]);
  });

  it("refuses an empty configuration", () => {
    expect(() => new ManagerList([" "])).toThrow(/at least one manager/);
  });
});
