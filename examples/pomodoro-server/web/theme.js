// Applies the saved theme (or the system's) before the page paints. app.js owns the toggle.
(() => {
  let theme = null;
  try { theme = localStorage.getItem('tickcast-theme'); } catch { /* storage disabled */ }
  if (theme !== 'light' && theme !== 'dark') {
    theme = window.matchMedia && matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
  }
  document.documentElement.dataset.theme = theme;
})();
