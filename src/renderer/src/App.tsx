export function App() {
  return (
    <div className="app-shell">
      <header>
        <h1>VoidVM</h1>
      </header>
      <main aria-label="Virtual machines">
        <p>Connecting…</p>
      </main>
    </div>
  )
}
