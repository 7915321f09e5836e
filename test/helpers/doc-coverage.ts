// Which exports of a module (and which public members of chosen classes) lack a doc comment, as
// the TypeScript compiler API sees them: the text an editor's hover and typedoc show. A
// re-export counts as documented when the declaration it points to is.
import ts from 'typescript';

export interface DocCoverage {
  /** Every export name of the module, sorted. */
  readonly exports: readonly string[];
  /** Exports and `Class.member` names whose doc comment is missing or empty. */
  readonly undocumented: readonly string[];
}

/**
 * Reads `file` with the compiler and lists what has no doc comment: each export, and each
 * public member (not `private`, not `#private`, not `protected`) of the classes named in
 * `classes`. Members a class inherits from a library type (such as Error's `message`) count as
 * documented when the library documents them.
 */
export function docCoverage(file: string, classes: readonly string[] = []): DocCoverage {
  const program = ts.createProgram([file], {
    strict: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.Node10,
    esModuleInterop: true,
    types: ['node'],
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(file);
  if (source === undefined) throw new Error(`the compiler did not read ${file}`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (moduleSymbol === undefined) throw new Error(`${file} is not a module`);
  const exported = checker.getExportsOfModule(moduleSymbol);
  const resolve = (s: ts.Symbol): ts.Symbol => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);
  const documented = (s: ts.Symbol): boolean => ts.displayPartsToString(s.getDocumentationComment(checker)).trim() !== '';
  const isPublic = (s: ts.Symbol): boolean =>
    !s.name.startsWith('#') &&
    (s.declarations ?? []).every((d) => (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0);

  const undocumented: string[] = [];
  for (const e of exported) if (!documented(resolve(e))) undocumented.push(e.name);
  for (const name of classes) {
    const symbol = exported.find((e) => e.name === name);
    if (symbol === undefined) throw new Error(`${file} exports no ${name}`);
    const cls = resolve(symbol);
    const members = [
      ...checker.getDeclaredTypeOfSymbol(cls).getProperties(), // instance members
      ...checker.getPropertiesOfType(checker.getTypeOfSymbol(cls)).filter((s) => s.name !== 'prototype'), // static members
    ];
    const constructors = cls.members?.get(ts.InternalSymbolName.Constructor);
    if (constructors !== undefined && isPublic(constructors)) {
      const signatures = checker.getSignaturesOfType(checker.getTypeOfSymbol(cls), ts.SignatureKind.Construct);
      const ownDoc = signatures.some((sig) => ts.displayPartsToString(sig.getDocumentationComment(checker)).trim() !== '');
      if (!ownDoc) undocumented.push(`${name}.constructor`);
    }
    for (const member of members) {
      if (isPublic(member) && !documented(member)) undocumented.push(`${name}.${member.name}`);
    }
  }
  return { exports: exported.map((e) => e.name).sort(), undocumented };
}
